// Writes the test vectors of docs/VERIFICATION.md (see
// verification_vectors.h) to DIR/verification.json:
//
//   build/bin/write-verification-vectors tests/vectors
//
// Only a deliberate change of the specification should change the file;
// verification_vectors_test fails until it is regenerated.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "tests/vectors/verification_vectors.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " DIR\n";
    return 2;
  }
  const std::filesystem::path path =
      std::filesystem::path(argv[1]) / "verification.json";
  std::ofstream out(path, std::ios::trunc);
  out << attnoracle::vectors::ComputeVectors().dump(1) << "\n";
  if (!out) {
    std::cerr << "cannot write " << path << "\n";
    return 1;
  }
  std::cout << "wrote " << path.string() << "\n";
  return 0;
}
