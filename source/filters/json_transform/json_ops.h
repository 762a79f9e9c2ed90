#pragma once
// The json_transform engine: an ordered list of operations compiled once from the config
// (Program), applied to a whole JSON body. Independent of the filter API so that unit tests and
// the fuzz target drive it directly.
//
// Operations (paths: json_path.h; each segment "[*]" applies the operation to every element):
//   rename  path -> to (a member name): the member keeps its place in its object; a member
//           already named `to` there is replaced.
//   remove  path: the member (or array element; "[*]" last empties the array).
//   set     path = value: replaces the value in place, or appends the member; missing objects on
//           the way are created.
//   add     path = value: like set, but only where the member is absent.
//   move    path -> to (a path): the value leaves its object and is put at `to` (created objects
//           on the way; replaced in place when present). With "[*]", `path` and `to` share the
//           same segments up to the last "[*]" and the move happens inside each element. Nothing
//           moves when `to` is blocked by a value that is not an object.
// A value is a JSON literal (exact numbers) or a template whose placeholders read the request;
// a template with a placeholder the request lacks skips the operation.
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "source/filters/json_transform/json_doc.h"
#include "source/filters/json_transform/json_path.h"

namespace gw::filters::json {

// A template placeholder: {header.NAME} {path.NAME} {query.NAME} {claim.NAME}
// {identity.subject} {request_id}. "{{" and "}}" are literal braces.
struct TemplateRef {
  enum class Source { Header, PathCapture, Query, Claim, Subject, RequestId };
  Source source = Source::Header;
  std::string name;  // header (lower case), capture, query parameter or claim name
};

struct Template {
  struct Piece {
    bool literal = true;
    std::string text;  // literal
    TemplateRef ref;   // !literal
  };
  std::vector<Piece> pieces;
  std::string text;  // as configured
};

absl::StatusOr<Template> parseTemplate(absl::string_view text);

// Fills `out` with the placeholder's value for the current request; false when it has none.
using Resolver = absl::FunctionRef<bool(const TemplateRef&, std::string& out)>;

// One operation as configured (the proto's fields, without the proto).
struct OpSpec {
  std::string op;
  std::string path;
  std::string to;
  bool has_value = false;  // value_json holds the literal's JSON text
  std::string value_json;
  bool has_template = false;
  std::string template_text;
};

class Program {
public:
  enum class Result { Unchanged, Changed, Invalid };

  // `field` names the list in errors: "response[2].path: invalid array index 'x' (a number or *)".
  static absl::StatusOr<std::unique_ptr<Program>> compile(const std::vector<OpSpec>& specs,
                                                          absl::string_view field);
  ~Program();

  // Parses `body`, runs the operations, and writes the result back to `body` when something
  // changed (Unchanged leaves every byte as it was). Invalid: `error` says why.
  Result apply(std::string& body, Resolver resolve, std::string& error) const;

  bool empty() const { return ops_.empty(); }
  // "rename instance -> served_by, remove headers".
  std::string describe() const;
  // Every placeholder of every template (the filter checks {path.X} against its path template).
  std::vector<const TemplateRef*> references() const;

  struct Op;

private:
  Program();
  std::vector<Op> ops_;
  std::unique_ptr<Document> literals_;  // owns the literal values the ops point at
};

} // namespace gw::filters::json
