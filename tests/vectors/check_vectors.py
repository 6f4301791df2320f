#!/usr/bin/python3
"""A second implementation of docs/VERIFICATION.md, written from the page
alone, checked against tests/vectors/verification.json.

It needs only the Python standard library (numpy is not used), so it also
shows how little a verifier needs. Every value is compared bit for bit
except the forward pass, which is compared within a relative 1e-12 (the
page says why). Exit status 0 when everything matches.

    /usr/bin/python3 tests/vectors/check_vectors.py tests/vectors/verification.json
"""
import hashlib
import json
import math
import struct
import sys

MASK64 = (1 << 64) - 1
STREAM_SECRET, STREAM_NOISE, STREAM_PROBE_SET, STREAM_EXAMPLES = 1, 2, 3, 5


# --- The generator -----------------------------------------------------------

def splitmix64(state):
    """Returns (new state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def derive_seed(seed, stream, index):
    _, a = splitmix64(seed)
    _, b = splitmix64(a ^ stream)
    _, c = splitmix64(b ^ index)
    return c


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


def portable_log(x):
    m, e = math.frexp(x)  # exact
    if m < 0.70710678118654752440:
        m *= 2.0
        e -= 1
    t = (m - 1.0) / (m + 1.0)
    t2 = t * t
    series = 1.0 / 25.0
    for k in range(11, -1, -1):
        series = series * t2 + 1.0 / (2 * k + 1)
    log_m = 2.0 * t * series
    ln2_hi = 6.93147180369123816490e-01
    ln2_lo = 1.90821492927058770002e-10
    de = float(e)
    return de * ln2_hi + (log_m + de * ln2_lo)


class Rng:
    def __init__(self, seed):
        self.s = []
        state = seed
        for _ in range(4):
            state, word = splitmix64(state)
            self.s.append(word)
        self.spare = None

    def next_u64(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def next_uniform(self):
        return float(self.next_u64() >> 11) * 2.0 ** -53

    def next_gaussian(self):
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        while True:
            u = 2.0 * self.next_uniform() - 1.0
            v = 2.0 * self.next_uniform() - 1.0
            s = u * u + v * v
            if 0.0 < s < 1.0:
                break
        f = math.sqrt(-2.0 * portable_log(s) / s)
        self.spare = v * f
        return u * f


# --- Bytes ---------------------------------------------------------------------

def f64_bits(x):
    return struct.unpack('<Q', struct.pack('<d', x))[0]


def bits_f64(hex_bits):
    return struct.unpack('<d', struct.pack('<Q', int(hex_bits, 16)))[0]


def to_float32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0]


def put_matrix(rows, cols, values):
    return struct.pack('<II', rows, cols) + struct.pack('<%dd' % len(values), *values)


def encode_matrices(matrices):
    """matrices: list of (rows, cols, row-major values)."""
    out = struct.pack('<I', len(matrices))
    for rows, cols, values in matrices:
        out += put_matrix(rows, cols, values)
    return out


def decode_matrices(data):
    (count,), pos, out = struct.unpack_from('<I', data), 4, []
    for _ in range(count):
        rows, cols = struct.unpack_from('<II', data, pos)
        pos += 8
        values = list(struct.unpack_from('<%dd' % (rows * cols), data, pos))
        pos += 8 * rows * cols
        out.append((rows, cols, values))
    assert pos == len(data), 'trailing bytes'
    return out


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def learner_stream_index(name):
    index = int.from_bytes(sha256(name.encode('utf-8'))[:8], 'big')
    return index if index != 0 else 1


def noise_seed(challenge_seed, learner):
    index = 0 if learner == '' else learner_stream_index(learner)
    return derive_seed(challenge_seed, STREAM_NOISE, index)


def noise(seed, query_index, sigma, count):
    rng = Rng(derive_seed(seed, STREAM_NOISE, query_index))
    return [sigma * rng.next_gaussian() for _ in range(count)]


# --- The secret and the forward pass ------------------------------------------

def draw_secret(spec, scale, seed, stream_index):
    """Returns the list of (rows, cols, values) EncodeParams writes, in
    order, after the head count."""
    d, k, v, o = spec['d_model'], spec['head_dim'], spec['value_dim'], spec['out_dim']
    if scale == 0:
        scale = 1.0 / math.sqrt(d)
    rng = Rng(derive_seed(seed, STREAM_SECRET, stream_index))

    def draw(rows, cols):
        return (rows, cols, [scale * rng.next_gaussian() for _ in range(rows * cols)])

    heads = []
    for _ in range(spec['heads']):
        h = {'wq': draw(d, k), 'wk': draw(d, k), 'wv': draw(d, v), 'wo': draw(v, o)}
        if spec['biases']:
            h['bq'], h['bk'], h['bv'] = draw(1, k), draw(1, k), draw(1, v)
        else:
            h['bq'] = h['bk'] = h['bv'] = (0, 0, [])
        heads.append(h)
    bo = draw(1, o) if spec['biases'] else (0, 0, [])
    return heads, bo


def encode_params(heads, bo):
    out = struct.pack('<I', len(heads))
    for h in heads:
        for name in ('wq', 'wk', 'wv', 'wo', 'bq', 'bk', 'bv'):
            out += put_matrix(*h[name])
    return out + put_matrix(*bo)


def matmul(a, b):
    (ar, ac, av), (br, bc, bv) = a, b
    assert ac == br
    return (ar, bc, [sum(av[i * ac + t] * bv[t * bc + j] for t in range(ac))
                     for i in range(ar) for j in range(bc)])


def add_row(m, row):
    r, c, v = m
    if not row[2]:
        return m
    return (r, c, [v[i * c + j] + row[2][j] for i in range(r) for j in range(c)])


def forward(spec, heads, bo, x):
    """Full-sequence readout, no mask: the vectors' challenge."""
    n = x[0]
    out = [0.0] * (n * spec['out_dim'])
    for h in heads:
        q = add_row(matmul(x, h['wq']), h['bq'])
        k = add_row(matmul(x, h['wk']), h['bk'])
        val = add_row(matmul(x, h['wv']), h['bv'])
        kt = (k[1], k[0], [k[2][j * k[1] + i] for i in range(k[1]) for j in range(k[0])])
        scores = matmul(q, kt)
        weights = []
        for i in range(n):
            row = [s * spec['score_scale'] for s in scores[2][i * n:(i + 1) * n]]
            top = max(row)
            e = [math.exp(s - top) for s in row]
            total = sum(e)
            weights += [w / total for w in e]
        y = matmul(matmul((n, n, weights), val), h['wo'])
        out = [a + b for a, b in zip(out, y[2])]
    out = [out[i * spec['out_dim'] + j] + (bo[2][j] if bo[2] else 0.0)
           for i in range(n) for j in range(spec['out_dim'])]
    return out


# --- Layer classes (section 2's draw order, section 4's forward pass) ---------

def draw_layer_classes(spec, scale, seed, stream_index):
    """The secret of any layer class: (layers, ffn), layers first layer
    first, each (heads, bo) with every block written out (copies where a
    head does not own one)."""
    d, k, v = spec['d_model'], spec['head_dim'], spec['value_dim']
    if scale == 0:
        scale = 1.0 / math.sqrt(d)
    rng = Rng(derive_seed(seed, STREAM_SECRET, stream_index))
    empty = (0, 0, [])

    def draw(rows, cols):
        return (rows, cols, [scale * rng.next_gaussian() for _ in range(rows * cols)])

    group = spec['heads'] // spec['kv_heads']
    layers = []
    for l in range(spec['layers']):
        o = spec['out_dim'] if l == spec['layers'] - 1 else d
        heads = []
        for h in range(spec['heads']):
            first = heads[h - h % group] if h % group else None
            head = {'wq': draw(d, k)}
            head['wk'] = head['wq'] if spec['tie_qk'] else first['wk'] if first else draw(d, k)
            head['wv'] = first['wv'] if first else draw(d, v)
            head['wo'] = draw(v, o)
            if spec['biases']:
                head['bq'] = draw(1, k)
                head['bk'] = head['bq'] if spec['tie_qk'] else first['bk'] if first else draw(1, k)
                head['bv'] = first['bv'] if first else draw(1, v)
            else:
                head['bq'] = head['bk'] = head['bv'] = empty
            heads.append(head)
        layers.append((heads, draw(1, o) if spec['biases'] else empty))
    ffn = None
    if spec['ffn']:
        f = spec['ffn']
        ffn = {'w1': draw(spec['out_dim'], f['hidden'])}
        ffn['b1'] = draw(1, f['hidden']) if f['biases'] else empty
        ffn['w2'] = draw(f['hidden'], f['out_dim'])
        ffn['b2'] = draw(1, f['out_dim']) if f['biases'] else empty
    return layers, ffn


def encode_layer_classes(layers, ffn):
    out = b''.join(encode_params(heads, bo) for heads, bo in layers)
    if ffn:
        out += b''.join(put_matrix(*ffn[name]) for name in ('w1', 'b1', 'w2', 'b2'))
    return out


def attention_layer(spec, heads, bo, x, last_only):
    """One layer on x: every row, or the last only (no mask then)."""
    n, d = x[0], x[1]
    queries = (1, d, x[2][(n - 1) * d:]) if last_only else x
    rows, causal = queries[0], spec['mask'] == 'causal' and not last_only
    cols = bo[1] if bo[2] else heads[0]['wo'][1]
    out = [0.0] * (rows * cols)
    for h in heads:
        q = add_row(matmul(queries, h['wq']), h['bq'])
        k = add_row(matmul(x, h['wk']), h['bk'])
        val = add_row(matmul(x, h['wv']), h['bv'])
        kt = (k[1], k[0], [k[2][j * k[1] + i] for i in range(k[1]) for j in range(k[0])])
        scores = matmul(q, kt)[2]
        weights = []
        for i in range(rows):
            row = [s * spec['score_scale'] for s in scores[i * n:(i + 1) * n]]
            visible = [not causal or j <= i for j in range(n)]
            if spec['attention'] == 'linear':
                weights += [s if ok else 0.0 for s, ok in zip(row, visible)]
                continue
            top = max(s for s, ok in zip(row, visible) if ok)
            e = [math.exp(s - top) if ok else 0.0 for s, ok in zip(row, visible)]
            total = sum(e)
            weights += [w / total for w in e]
        y = matmul(matmul((rows, n, weights), val), h['wo'])
        out = [a + b for a, b in zip(out, y[2])]
    y = add_row((rows, cols, out), bo)
    if spec['residual']:
        y = (rows, cols, [a + b for a, b in zip(y[2], queries[2])])
    return y


def forward_layer_classes(spec, layers, ffn, x):
    for heads, bo in layers[:-1]:
        x = attention_layer(spec, heads, bo, x, last_only=False)
    z = attention_layer(spec, *layers[-1], x, last_only=spec['readout'] == 'last')
    if not ffn:
        return z
    hidden = add_row(matmul(z, ffn['w1']), ffn['b1'])
    hidden = (hidden[0], hidden[1], [max(0.0, a) for a in hidden[2]])
    y = add_row(matmul(hidden, ffn['w2']), ffn['b2'])
    if spec['ffn']['residual']:
        y = (y[0], y[1], [a + b for a, b in zip(y[2], z[2])])
    return y


# --- Random examples and answer forms (section 2) ------------------------------

def example_input(seed, index, tokens, d_model, inputs, scale):
    rng = Rng(derive_seed(seed, STREAM_EXAMPLES, index))
    if inputs == 'INPUTS_GAUSSIAN':
        return [scale * rng.next_gaussian() for _ in range(tokens * d_model)]
    return [-scale if rng.next_u64() >> 63 else scale for _ in range(tokens * d_model)]


def answer_form(policy, rows, cols, y):
    """Step 3 on the degraded values y (row-major)."""
    form = policy['answers']
    if form == 'ANSWERS_SIGN':
        return [1.0 if a >= 0 else -1.0 for a in y]
    if form == 'ANSWERS_QUANTIZED':
        q = doubles(policy['quantize_step'])[0]
        # round() of a float rounds half to even, as nearbyint does.
        return [q * float(round(a / q)) + 0.0 for a in y]
    if form == 'ANSWERS_TOP_K':
        out = []
        for r in range(rows):
            row = y[r * cols:(r + 1) * cols]
            # Largest first, equal values (-0 and +0 too) by lower column.
            for j in sorted(range(cols), key=lambda j: (-row[j], j))[:policy['top_k']]:
                out += [float(j), row[j]]
        return out
    return y


# --- The checks -----------------------------------------------------------------

FAILURES = []


def check(what, got, want):
    if got != want:
        FAILURES.append('%s: got %s, want %s' % (what, got, want))


def doubles(section):
    return [bits_f64(b) for b in section['bits']]


def hexs(values):
    return ['%016x' % f64_bits(x) for x in values]


def main(path):
    with open(path) as f:
        v = json.load(f)

    for row in v['derive_seed']:
        check('derive_seed', '%016x' % derive_seed(int(row['seed'], 16), row['stream'],
                                                    int(row['index'], 16)), row['derived'])

    seed = int(v['rng']['seed'], 16)
    rng = Rng(seed)
    check('next_u64', ['%016x' % rng.next_u64() for _ in v['rng']['next_u64']],
          v['rng']['next_u64'])
    rng = Rng(seed)
    check('next_uniform', hexs(rng.next_uniform() for _ in v['rng']['next_uniform']['bits']),
          v['rng']['next_uniform']['bits'])
    rng = Rng(seed)
    check('next_gaussian', hexs(rng.next_gaussian() for _ in v['rng']['next_gaussian']['bits']),
          v['rng']['next_gaussian']['bits'])

    check('portable_log', hexs(portable_log(x) for x in doubles(v['portable_log']['x'])),
          v['portable_log']['log']['bits'])

    for row in v['learner_stream_index']:
        check('learner_stream_index ' + row['learner'],
              '%016x' % learner_stream_index(row['learner']), row['stream_index'])

    c = v['challenge']
    spec = dict(c['spec'])
    spec['score_scale'] = doubles(spec['score_scale'])[0]
    challenge_seed = int(c['prior']['seed'], 16)
    scale = doubles(c['prior']['scale'])[0]
    sigma = doubles(c['policy']['noise_sigma'])[0]
    nonce = bytes.fromhex(c['nonce'])

    secrets = v['secrets']
    shared = draw_secret(spec, scale, challenge_seed, 0)
    check('shared secret bytes', encode_params(*shared).hex(), secrets['shared']['encode_params'])
    check('shared commitment', sha256(encode_params(*shared), nonce).hex(),
          secrets['shared']['commitment'])
    own = draw_secret(spec, scale, challenge_seed, learner_stream_index('alice'))
    check('alice commitment', sha256(encode_params(*own), nonce).hex(),
          secrets['per_learner_alice']['commitment'])
    unit_spec = {'d_model': 2, 'heads': 1, 'head_dim': 2, 'value_dim': 2, 'out_dim': 2,
                 'biases': False}
    unit = draw_secret(unit_spec, 0, challenge_seed, 0)
    check('default-scale commitment', sha256(encode_params(*unit), nonce).hex(),
          secrets['default_scale']['commitment'])

    for row in v['noise']:
        s = noise_seed(challenge_seed, row['learner'])
        check('noise seed of "%s"' % row['learner'], '%016x' % s, row['noise_seed'])
        check('noise of "%s" at %d' % (row['learner'], row['query_index']),
              hexs(noise(s, row['query_index'], sigma, row['rows'] * row['cols'])),
              row['noise']['bits'])

    t = v['transcript']
    s = noise_seed(challenge_seed, t['learner'])
    check('transcript noise seed', '%016x' % s, t['noise_seed'])
    previous = b''
    for k, e in enumerate(t['entries']):
        request = bytes.fromhex(e['request'])
        sequences = decode_matrices(request)
        answers = []
        for i, x in enumerate(sequences):
            exact = doubles(e['forward_before_noise'][i])
            mine = forward(spec, shared[0], shared[1], x)
            worst = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(mine, exact))
            if worst > 1e-12:
                FAILURES.append('entry %d sequence %d: forward differs by %g' % (k, i, worst))
            n = noise(s, e['first_query_index'] + i, sigma, len(exact))
            # Noise added in float64, then rounded to float32 (and back).
            answers.append((x[0], spec['out_dim'], [to_float32(a + b) for a, b in zip(exact, n)]))
        response = encode_matrices(answers)
        check('entry %d response' % k, response.hex(), e['response'])
        request_digest = sha256(struct.pack('<Q', e['first_query_index']), request)
        response_digest = sha256(bytes.fromhex(e['response']))
        chain = sha256(previous, request_digest, response_digest)
        check('entry %d request digest' % k, request_digest.hex(), e['request_digest'])
        check('entry %d response digest' % k, response_digest.hex(), e['response_digest'])
        check('entry %d chain hash' % k, chain.hex(), e['chain_hash'])
        previous = chain

    p = v['probe_set']
    rng = Rng(derive_seed(int(p['seed'], 16), STREAM_PROBE_SET, 0))
    lengths = [n for n in (1, 2, p['typical_length'], 4 * p['typical_length'])
               for _ in range(p['per_length'])]
    check('probe lengths', lengths, p['lengths'])
    probes = [[rng.next_gaussian() for _ in range(n * p['d_model'])] for n in lengths]
    check('probe 0', hexs(probes[0]), p['probe_0']['bits'])
    check('probe 1', hexs(probes[1]), p['probe_1']['bits'])
    check('last probe', hexs(probes[-1][:p['d_model']]), p['last_probe_first_token']['bits'])

    for case in v['layer_classes']:
        cspec = dict(case['spec'])
        cspec['score_scale'] = doubles(cspec['score_scale'])[0]
        layers, ffn = draw_layer_classes(cspec, doubles(case['prior']['scale'])[0],
                                         int(case['prior']['seed'], 16),
                                         int(case['stream_index'], 16))
        encoded = encode_layer_classes(layers, ffn)
        check(case['name'] + ' secret bytes', encoded.hex(), case['encode_params'])
        check(case['name'] + ' commitment', sha256(encoded, nonce).hex(), case['commitment'])
        x = (case['input']['rows'], case['input']['cols'], doubles(case['input']))
        y = forward_layer_classes(cspec, layers, ffn, x)
        want = doubles(case['output'])
        check(case['name'] + ' output shape', [y[0], y[1]],
              [case['output']['rows'], case['output']['cols']])
        worst = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(y[2], want))
        if len(y[2]) != len(want) or worst > 1e-12:
            FAILURES.append('%s: forward differs by %g' % (case['name'], worst))

    for e in v['examples']:
        s = noise_seed(challenge_seed, e['learner'])
        check('example noise seed of "%s"' % e['learner'], '%016x' % s, e['noise_seed'])
        check('example %s of "%s" at %d' % (e['inputs'], e['learner'], e['index']),
              hexs(example_input(s, e['index'], e['tokens'], e['d_model'], e['inputs'],
                                 doubles(e['scale'])[0])),
              e['input']['bits'])

    for a in v['answer_forms']:
        p, rows, cols = a['policy'], a['values']['rows'], a['values']['cols']
        y = doubles(a['values'])
        sigma_a = doubles(p['noise_sigma'])[0]
        if sigma_a > 0:
            s = noise_seed(challenge_seed, a['learner'])
            y = [b + n for b, n in zip(y, noise(s, a['query_index'], sigma_a, len(y)))]
        if p['precision'] == 'float32':
            y = [to_float32(b) for b in y]
        check('answer form ' + a['name'], hexs(answer_form(p, rows, cols, y)),
              a['answer']['bits'])

    for failure in FAILURES:
        print('MISMATCH', failure)
    if FAILURES:
        return 1
    print('all vectors in %s match' % path)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else 'tests/vectors/verification.json'))
