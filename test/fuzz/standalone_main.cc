// main() for the fuzz targets when they are built without libFuzzer (any build but
// --config=fuzz, e.g. plain gcc or --config=asan): runs LLVMFuzzerTestOneInput once per file
// named on the command line, or per file in a named directory, so a crash input or a corpus can
// be replayed under any compiler: bazel build //test/fuzz:jwt_fuzz && bazel-bin/test/fuzz/jwt_fuzz
// test/fuzz/corpus/jwt_fuzz
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool runFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  return true;
}

} // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) {
    LLVMFuzzerInitialize(&argc, &argv);
  }
  int files = 0;
  bool ok = true;
  for (int i = 1; i < argc; i++) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      std::vector<std::filesystem::path> paths;
      for (const auto& e : std::filesystem::directory_iterator(arg)) {
        if (e.is_regular_file()) {
          paths.push_back(e.path());
        }
      }
      std::sort(paths.begin(), paths.end());
      for (const auto& p : paths) {
        ok = runFile(p) && ok;
        files++;
      }
    } else {
      ok = runFile(arg) && ok;
      files++;
    }
  }
  printf("ran %d input(s)\n", files);
  return ok ? 0 : 1;
}
