// A real browser on the competition page: Debian's chromium, headless,
// driven by puppeteer-core. Loads the page of a running oracle-server
// before anyone has submitted, has two learners submit (ORACLE_CLIENT with
// their tokens), waits for the page's own refresh to show them, checks the
// ranks in the DOM, and saves screenshots.
//
// Environment: PAGE_URL (http://127.0.0.1:PORT/), SERVER (HOST:PORT of the
// gRPC listener), ORACLE_CLIENT, ALICE_TOKEN, BOB_TOKEN, BAD_PARAMS (a
// hypothesis file far from the secret), SCREENSHOT_DIR.
'use strict';
const {execFileSync} = require('child_process');
const path = require('path');
const puppeteer = require('puppeteer-core');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const pageUrl = env('PAGE_URL');
const challenge = 'tiny-d4';
const shots = env('SCREENSHOT_DIR');
// The page refreshes every 5 s by default; a slow shared machine gets more.
const waitMs = 30000;

function client(token, ...args) {
  return execFileSync(env('ORACLE_CLIENT'),
                      ['--server', env('SERVER'), '--token', token, ...args],
                      {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']});
}

// The learners' names in the challenge's table, top to bottom, with ranks.
async function rows(page) {
  return page.$$eval(
      `table.leaderboard[data-challenge="${challenge}"] tbody tr[data-learner]`,
      (trs) => trs.map((tr) => ({
                         learner: tr.dataset.learner,
                         rank: tr.querySelector('td.rank').textContent,
                         error: tr.querySelector('td.error').textContent,
                       })));
}

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({width: 1200, height: 900});
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));

    const response = await page.goto(pageUrl, {waitUntil: 'load'});
    check(response.status() === 200, `GET ${pageUrl} is 200`);
    check((await rows(page)).length === 0, 'no submissions before the learners run');

    // Bob first, with a bad hypothesis; then alice recovers the layer.
    client(env('BOB_TOKEN'), 'submit', challenge, '--params', env('BAD_PARAMS'));
    client(env('ALICE_TOKEN'), 'learn', challenge, '--algo', 'probe');

    await page.waitForFunction(
        (sel) => document.querySelectorAll(sel).length === 2,
        {timeout: waitMs, polling: 200},
        `table.leaderboard[data-challenge="${challenge}"] tbody tr[data-learner]`);
    const ranked = await rows(page);
    console.log('leaderboard in the DOM:', JSON.stringify(ranked));
    check(ranked[0].learner === 'alice' && ranked[0].rank === '1',
          'alice (exact recovery) is rank 1');
    check(ranked[1].learner === 'bob' && ranked[1].rank === '2',
          'bob (a bad hypothesis) is rank 2');
    check(Number(ranked[0].error) < 1e-20, `alice's error ${ranked[0].error} is below 1e-20`);
    const status = await page.$eval('#refresh-status', (e) => e.textContent);
    check(status.startsWith('updated'), `the page says it refreshed ("${status}")`);
    await page.screenshot({path: path.join(shots, 'index.png'), fullPage: true});

    await page.goto(new URL(`/challenges/${challenge}`, pageUrl).href, {waitUntil: 'load'});
    await page.waitForFunction(
        () => {
          const img = document.querySelector('img.chart');
          return img && img.complete && img.naturalWidth > 0;
        },
        {timeout: waitMs, polling: 200});
    const onChallengePage = await rows(page);
    check(onChallengePage.map((r) => r.learner).join(',') === 'alice,bob',
          'the challenge page ranks them the same');
    await page.screenshot({path: path.join(shots, 'challenge.png'), fullPage: true});
    check(consoleErrors.length === 0, `no script errors (${consoleErrors.join('; ')})`);
  } finally {
    await browser.close();
  }
  console.log(`${failures === 0 ? 'passed' : `${failures} failed`}; screenshots in ${shots}`);
  process.exit(failures === 0 ? 0 : 1);
})().catch((e) => {
  console.error('browser test failed:', e);
  process.exit(1);
});
