// Fuzzes the json_transform engine (source/filters/json_transform/json_ops.h). Byte 0 picks a
// program, the rest is the body:
//   0  renames and moves only (rename a -> b, items[*].price_cents -> price, move x.y -> z,
//      move items[*].m.k -> items[*].k);
//   1  removes only (a, items[*].x, /items/0, [*].a);
//   2  sets and adds (literal 12345678901234567890, a template from a header, a literal object).
// Invariants (abort() on violation): apply never crashes; Invalid and Unchanged leave the body
// byte for byte; a Changed body is one valid JSON value; with programs 0 and 1 its number texts
// are a sub-multiset of the input's (nothing passes through a double), and with program 0 and no
// member at a destination exactly the input's; running the program on its own output again
// never fails.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "source/filters/json_transform/json_ops.h"

namespace gw::fuzz {
namespace {

using filters::json::OpSpec;
using filters::json::Program;
using filters::json::TemplateRef;

[[noreturn]] void fail(const char* what, const std::string& in, const std::string& out) {
  fprintf(stderr, "json_transform fuzz invariant violated: %s\n  in:  [%s]\n  out: [%s]\n", what,
          in.c_str(), out.c_str());
  abort();
}

// Collects the text of every number (SAX, numbers as strings).
struct NumberCollector : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, NumberCollector> {
  std::vector<std::string> numbers;
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    numbers.emplace_back(s, n);
    return true;
  }
};

bool numbersOf(const std::string& text, std::vector<std::string>& out) {
  rapidjson::MemoryStream ms(text.data(), text.size());
  rapidjson::Reader reader;
  NumberCollector c;
  if (reader.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag |
                   rapidjson::kParseIterativeFlag>(ms, c)
          .IsError()) {
    return false;
  }
  out = std::move(c.numbers);
  std::sort(out.begin(), out.end());
  return true;
}

OpSpec op(const char* o, const char* path, const char* to = "") {
  OpSpec s;
  s.op = o;
  s.path = path;
  s.to = to;
  return s;
}

std::vector<std::unique_ptr<Program>> programs() {
  std::vector<std::vector<OpSpec>> specs(3);
  specs[0] = {op("rename", "a", "b"), op("rename", "items[*].price_cents", "price"),
              op("move", "x.y", "z"), op("move", "items[*].m.k", "items[*].k")};
  specs[1] = {op("remove", "a"), op("remove", "items[*].x"), op("remove", "/items/0"),
              op("remove", "[*].a")};
  OpSpec lit = op("set", "a.b");
  lit.has_value = true;
  lit.value_json = "12345678901234567890";
  OpSpec tmpl = op("add", "c");
  tmpl.has_template = true;
  tmpl.template_text = "{header.x}-{request_id}";
  OpSpec obj = op("set", "items[*].o");
  obj.has_value = true;
  obj.value_json = R"({"k":[1.50,"s",null,true]})";
  specs[2] = {lit, tmpl, obj};
  std::vector<std::unique_ptr<Program>> out;
  for (const auto& s : specs) {
    auto p = Program::compile(s, "fuzz");
    if (!p.ok()) {
      fprintf(stderr, "%s\n", std::string(p.status().message()).c_str());
      abort();
    }
    out.push_back(std::move(*p));
  }
  return out;
}

bool resolve(const TemplateRef& r, std::string& out) {
  out = r.source == TemplateRef::Source::Header ? "h\"\\\x01" : "rid";
  return true;
}

} // namespace
} // namespace gw::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gw::fuzz;
  static const auto kPrograms = programs();
  if (size < 1) {
    return 0;
  }
  const size_t which = data[0] % kPrograms.size();
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string body = in;
  std::string error;
  const Program::Result r = kPrograms[which]->apply(body, resolve, error);
  if (r != Program::Result::Changed) {
    if (body != in) {
      fail("an unchanged or invalid body was modified", in, body);
    }
    if (r == Program::Result::Invalid && error.empty()) {
      fail("invalid without a reason", in, body);
    }
    return 0;
  }
  std::vector<std::string> before, after;
  if (!numbersOf(in, before)) {
    fail("a body RapidJSON refuses was transformed", in, body);
  }
  if (!numbersOf(body, after)) {
    fail("the output is not valid JSON", in, body);
  }
  // Renames and moves replace a member already at their destination: without any (no 'b', 'z',
  // 'k', "price" or escape in the input) they keep every number.
  const bool no_collision = in.find_first_of("bzk\\") == std::string::npos &&
                            in.find("price") == std::string::npos;
  if (which == 0 && no_collision && before != after) {
    fail("a rename or move changed the numbers", in, body);
  }
  if (which != 2 && !std::includes(before.begin(), before.end(), after.begin(), after.end())) {
    fail("a rename, move or removal made a number", in, body);
  }
  std::string again = body;
  if (kPrograms[which]->apply(again, resolve, error) == Program::Result::Invalid) {
    fail("the program's own output is invalid to it", body, again);
  }
  return 0;
}
