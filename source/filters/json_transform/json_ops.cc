#include "source/filters/json_transform/json_ops.h"

#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gw::filters::json {

enum class Kind { Rename, Remove, Set, Add, Move };

struct Program::Op {
  Kind kind = Kind::Remove;
  Path path;
  std::string to_key;  // rename
  Path to;             // move
  size_t prefix = 0;   // move: the shared segments up to the last [*]
  const Value* literal = nullptr;
  std::optional<Template> tmpl;
};

namespace {

// ---------------------------------------------------------------------------------------------
// Templates

constexpr std::pair<const char*, TemplateRef::Source> kSources[] = {
    {"header.", TemplateRef::Source::Header},
    {"path.", TemplateRef::Source::PathCapture},
    {"query.", TemplateRef::Source::Query},
    {"claim.", TemplateRef::Source::Claim},
};

absl::StatusOr<TemplateRef> parseRef(absl::string_view inner) {
  TemplateRef r;
  if (inner == "identity.subject") {
    r.source = TemplateRef::Source::Subject;
    return r;
  }
  if (inner == "request_id") {
    r.source = TemplateRef::Source::RequestId;
    return r;
  }
  for (const auto& [prefix, source] : kSources) {
    if (absl::StartsWith(inner, prefix) && inner.size() > strlen(prefix)) {
      r.source = source;
      r.name = std::string(inner.substr(strlen(prefix)));
      if (source == TemplateRef::Source::Header) {
        absl::AsciiStrToLower(&r.name);
      }
      return r;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown placeholder {", inner,
      "} (header.NAME, path.NAME, query.NAME, claim.NAME, identity.subject, request_id)"));
}

// ---------------------------------------------------------------------------------------------
// Walking the document

Value::MemberIterator findMember(Value& obj, absl::string_view key) {
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    if (absl::string_view(it->name.GetString(), it->name.GetStringLength()) == key) {
      return it;
    }
  }
  return obj.MemberEnd();
}

// One step without wildcards: a member of an object or an element of an array, or nullptr.
Value* descend(Value& v, const Segment& s) {
  if (v.IsObject() && s.by_key) {
    auto it = findMember(v, s.key);
    return it == v.MemberEnd() ? nullptr : &it->value;
  }
  if (v.IsArray() && s.index >= 0 && static_cast<uint64_t>(s.index) < v.Size()) {
    return &v[static_cast<rapidjson::SizeType>(s.index)];
  }
  return nullptr;
}

Value keyRef(const std::string& key) {
  // The config outlives the request's document: refer to its key, do not copy it.
  return Value(rapidjson::StringRef(key.data(), static_cast<rapidjson::SizeType>(key.size())));
}

// Calls fn(v') for every value v' that segs[i, end) reach from `v` ("[*]" fans out). With
// `create`, a missing member followed by a name becomes a new object.
template <class Fn>
void walk(Value& v, const std::vector<Segment>& segs, size_t i, size_t end, bool create,
          Allocator& a, Fn& fn) {
  if (i == end) {
    fn(v);
    return;
  }
  const Segment& s = segs[i];
  if (v.IsObject()) {
    if (!s.by_key) {
      return;
    }
    auto it = findMember(v, s.key);
    if (it == v.MemberEnd()) {
      if (!create || !segs[i + 1].by_key) {
        return;
      }
      Value name = keyRef(s.key);
      Value obj(rapidjson::kObjectType);
      v.AddMember(name, obj, a);
      it = v.MemberEnd() - 1;
    }
    walk(it->value, segs, i + 1, end, create, a, fn);
  } else if (v.IsArray()) {
    if (s.all) {
      for (auto& e : v.GetArray()) {
        walk(e, segs, i + 1, end, create, a, fn);
      }
    } else if (s.index >= 0 && static_cast<uint64_t>(s.index) < v.Size()) {
      walk(v[static_cast<rapidjson::SizeType>(s.index)], segs, i + 1, end, create, a, fn);
    }
  }
}

// The op's value for this request into `out`; false when a template placeholder is missing.
bool materialize(const Program::Op& op, Value& out, Allocator& a, Resolver resolve,
                 std::string& scratch) {
  if (op.literal != nullptr) {
    copyValue(out, *op.literal, a);
    return true;
  }
  std::string text;
  for (const auto& p : op.tmpl->pieces) {
    if (p.literal) {
      text += p.text;
      continue;
    }
    scratch.clear();
    if (!resolve(p.ref, scratch)) {
      return false;
    }
    text += scratch;
  }
  setString(out, text, a);
  return true;
}

bool applyRename(const Program::Op& op, Document& doc) {
  bool changed = false;
  Allocator& a = doc.GetAllocator();
  const Segment& last = op.path.segments.back();
  auto fn = [&](Value& c) {
    if (!c.IsObject() || last.key == op.to_key) {
      return;
    }
    auto it = findMember(c, last.key);
    if (it == c.MemberEnd()) {
      return;
    }
    auto existing = findMember(c, op.to_key);
    if (existing != c.MemberEnd()) {
      c.EraseMember(existing);
      it = findMember(c, last.key);
    }
    it->name = keyRef(op.to_key);
    changed = true;
  };
  walk(doc, op.path.segments, 0, op.path.segments.size() - 1, false, a, fn);
  return changed;
}

bool applyRemove(const Program::Op& op, Document& doc) {
  bool changed = false;
  const Segment& last = op.path.segments.back();
  auto fn = [&](Value& c) {
    if (c.IsObject() && last.by_key) {
      auto it = findMember(c, last.key);
      if (it != c.MemberEnd()) {
        c.EraseMember(it);  // keeps the order of the others (RemoveMember would not)
        changed = true;
      }
    } else if (c.IsArray()) {
      if (last.all) {
        changed = changed || !c.Empty();
        c.Clear();
      } else if (last.index >= 0 && static_cast<uint64_t>(last.index) < c.Size()) {
        c.Erase(c.Begin() + last.index);
        changed = true;
      }
    }
  };
  walk(doc, op.path.segments, 0, op.path.segments.size() - 1, false, doc.GetAllocator(), fn);
  return changed;
}

bool applySet(const Program::Op& op, Document& doc, Resolver resolve) {
  Allocator& a = doc.GetAllocator();
  Value proto;
  std::string scratch;
  if (!materialize(op, proto, a, resolve, scratch)) {
    return false;
  }
  bool changed = false;
  const Segment& last = op.path.segments.back();
  const bool only_absent = op.kind == Kind::Add;
  auto fn = [&](Value& c) {
    Value v;
    v.CopyFrom(proto, a);
    if (c.IsObject() && last.by_key) {
      auto it = findMember(c, last.key);
      if (it == c.MemberEnd()) {
        Value name = keyRef(last.key);
        c.AddMember(name, v, a);
        changed = true;
      } else if (!only_absent) {
        it->value = v;
        changed = true;
      }
    } else if (c.IsArray() && !only_absent) {
      if (last.all) {
        for (auto& e : c.GetArray()) {
          e.CopyFrom(proto, a);
          changed = true;
        }
      } else if (last.index >= 0 && static_cast<uint64_t>(last.index) < c.Size()) {
        c[static_cast<rapidjson::SizeType>(last.index)] = v;
        changed = true;
      }
    }
  };
  walk(doc, op.path.segments, 0, op.path.segments.size() - 1, true, a, fn);
  return changed;
}

bool applyMove(const Program::Op& op, Document& doc) {
  Allocator& a = doc.GetAllocator();
  const auto& from = op.path.segments;
  const auto& to = op.to.segments;
  bool changed = false;
  auto fn = [&](Value& base) {
    // The source: its object and member (no wildcards past the prefix).
    Value* parent = &base;
    for (size_t i = op.prefix; i + 1 < from.size() && parent != nullptr; i++) {
      parent = descend(*parent, from[i]);
    }
    if (parent == nullptr || !parent->IsObject()) {
      return;
    }
    auto it = findMember(*parent, from.back().key);
    if (it == parent->MemberEnd()) {
      return;
    }
    // The destination must be reachable: objects all the way, or missing (created).
    Value* d = &base;
    for (size_t i = op.prefix; i + 1 < to.size(); i++) {
      if (!d->IsObject()) {
        return;
      }
      auto next = findMember(*d, to[i].key);
      if (next == d->MemberEnd() || &next->value == &it->value) {
        d = nullptr;  // missing, or the value that moves (wrapped: "a" -> "a.inner"): created
        break;
      }
      d = &next->value;
    }
    if (d != nullptr && !d->IsObject()) {
      return;
    }
    Value moved;
    moved = it->value;  // moves; the member is left null
    parent->EraseMember(it);
    d = &base;
    for (size_t i = op.prefix; i + 1 < to.size(); i++) {
      auto next = findMember(*d, to[i].key);
      if (next == d->MemberEnd()) {
        Value name = keyRef(to[i].key);
        Value obj(rapidjson::kObjectType);
        d->AddMember(name, obj, a);
        next = d->MemberEnd() - 1;
      }
      d = &next->value;
    }
    auto dest = findMember(*d, to.back().key);
    if (dest == d->MemberEnd()) {
      Value name = keyRef(to.back().key);
      d->AddMember(name, moved, a);
    } else {
      dest->value = moved;
    }
    changed = true;
  };
  walk(doc, from, 0, op.prefix, false, a, fn);
  return changed;
}

std::string describeOp(const Program::Op& op) {
  switch (op.kind) {
  case Kind::Rename: return absl::StrCat("rename ", op.path.text, " -> ", op.to_key);
  case Kind::Remove: return absl::StrCat("remove ", op.path.text);
  case Kind::Move: return absl::StrCat("move ", op.path.text, " -> ", op.to.text);
  case Kind::Set:
  case Kind::Add: {
    std::string value;
    if (op.literal != nullptr) {
      write(*op.literal, value);
    } else {
      value = absl::StrCat("\"", op.tmpl->text, "\"");
    }
    return absl::StrCat(op.kind == Kind::Set ? "set " : "add ", op.path.text, " = ", value);
  }
  }
  return "";
}

absl::Status fieldError(absl::string_view field, size_t i, absl::string_view member,
                        absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "]", member.empty() ? "" : ".",
                                                 member, ": ", message));
}

} // namespace

absl::StatusOr<Template> parseTemplate(absl::string_view s) {
  Template t;
  t.text = std::string(s);
  std::string lit;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '{' && i + 1 < s.size() && s[i + 1] == '{') {
      lit.push_back('{');
      i += 2;
      continue;
    }
    if (s[i] == '}' && i + 1 < s.size() && s[i + 1] == '}') {
      lit.push_back('}');
      i += 2;
      continue;
    }
    if (s[i] == '}') {
      return absl::InvalidArgumentError(absl::StrCat("unmatched '}' at ", i, " (write }})"));
    }
    if (s[i] != '{') {
      lit.push_back(s[i++]);
      continue;
    }
    const size_t end = s.find('}', i);
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("unterminated placeholder at ", i));
    }
    auto ref = parseRef(s.substr(i + 1, end - i - 1));
    if (!ref.ok()) {
      return ref.status();
    }
    if (!lit.empty()) {
      t.pieces.push_back({true, std::move(lit), {}});
      lit.clear();
    }
    t.pieces.push_back({false, "", std::move(*ref)});
    i = end + 1;
  }
  if (!lit.empty()) {
    t.pieces.push_back({true, std::move(lit), {}});
  }
  return t;
}

Program::Program() : literals_(std::make_unique<Document>()) {}
Program::~Program() = default;

absl::StatusOr<std::unique_ptr<Program>> Program::compile(const std::vector<OpSpec>& specs,
                                                          absl::string_view field) {
  std::unique_ptr<Program> p(new Program());
  p->literals_->SetArray();
  for (size_t i = 0; i < specs.size(); i++) {
    const OpSpec& s = specs[i];
    Op op;
    if (s.op == "rename") {
      op.kind = Kind::Rename;
    } else if (s.op == "remove") {
      op.kind = Kind::Remove;
    } else if (s.op == "set") {
      op.kind = Kind::Set;
    } else if (s.op == "add") {
      op.kind = Kind::Add;
    } else if (s.op == "move") {
      op.kind = Kind::Move;
    } else {
      return fieldError(field, i, "op",
                        s.op.empty() ? "required (rename, remove, set, add, move)"
                                     : absl::StrCat("unknown operation '", s.op,
                                                    "' (rename, remove, set, add, move)"));
    }
    if (s.path.empty()) {
      return fieldError(field, i, "path", "required");
    }
    auto path = parsePath(s.path);
    if (!path.ok()) {
      return fieldError(field, i, "path", path.status().message());
    }
    op.path = std::move(*path);
    const Segment& last = op.path.segments.back();
    const bool is_value_op = op.kind == Kind::Set || op.kind == Kind::Add;
    const bool wants_to = op.kind == Kind::Rename || op.kind == Kind::Move;
    if (wants_to && s.to.empty()) {
      return fieldError(field, i, "to", "required");
    }
    if (!wants_to && !s.to.empty()) {
      return fieldError(field, i, "to", absl::StrCat("not used by ", s.op));
    }
    if (is_value_op && s.has_value + s.has_template != 1) {
      return fieldError(field, i, "", "set exactly one of value, value_json and template");
    }
    if (!is_value_op && (s.has_value || s.has_template)) {
      return fieldError(field, i, "", absl::StrCat(s.op, " takes no value"));
    }
    if ((op.kind == Kind::Rename || op.kind == Kind::Add || op.kind == Kind::Move) &&
        (!last.by_key || last.all)) {
      return fieldError(field, i, "path",
                        absl::StrCat(s.op, " needs a member name as the last segment"));
    }
    if (op.kind == Kind::Rename) {
      if (s.to.find_first_of(".[]/") != std::string::npos) {
        return fieldError(field, i, "to",
                          "a member name (rename keeps the member in its object; use move to "
                          "put it elsewhere)");
      }
      op.to_key = s.to;
    }
    if (op.kind == Kind::Move) {
      auto to = parsePath(s.to);
      if (!to.ok()) {
        return fieldError(field, i, "to", to.status().message());
      }
      op.to = std::move(*to);
      op.prefix = op.path.wildcardPrefix();
      const size_t to_prefix = op.to.wildcardPrefix();
      bool same_prefix = to_prefix == op.prefix && op.to.segments.size() > op.prefix;
      for (size_t k = 0; same_prefix && k < op.prefix; k++) {
        same_prefix = op.to.segments[k] == op.path.segments[k];
      }
      if (!same_prefix) {
        return fieldError(field, i, "to",
                          "must repeat the path's segments up to its last [*] and go on below "
                          "them (a move happens inside each element)");
      }
      for (size_t k = op.prefix; k < op.to.segments.size(); k++) {
        if (!op.to.segments[k].by_key) {
          return fieldError(field, i, "to", "member names only after the shared [*] prefix");
        }
      }
      if (op.to.segments == op.path.segments) {
        return fieldError(field, i, "to", "the same as path");
      }
    }
    if (s.has_value) {
      std::string error;
      Document tmp(&p->literals_->GetAllocator());
      if (!parse(s.value_json, tmp, error)) {
        return fieldError(field, i, "value_json", error);
      }
      Value v;
      v = static_cast<Value&>(tmp);  // moves the root; its memory is the literals document's pool
      p->literals_->PushBack(v, p->literals_->GetAllocator());
    }
    if (s.has_template) {
      auto t = parseTemplate(s.template_text);
      if (!t.ok()) {
        return fieldError(field, i, "template", t.status().message());
      }
      op.tmpl = std::move(*t);
    }
    p->ops_.push_back(std::move(op));
  }
  // Pointers into the literals array, now that it no longer grows.
  rapidjson::SizeType next = 0;
  for (size_t i = 0; i < specs.size(); i++) {
    if (specs[i].has_value) {
      p->ops_[i].literal = &(*p->literals_)[next++];
    }
  }
  return p;
}

Program::Result Program::apply(std::string& body, Resolver resolve, std::string& error) const {
  // The request's document lives in a per-thread first block; larger bodies add heap blocks.
  alignas(8) static thread_local char first_block[32 * 1024];
  Allocator pool(first_block, sizeof(first_block));
  Document doc(&pool);
  if (!parse(body, doc, error)) {
    return Result::Invalid;
  }
  bool changed = false;
  for (const Op& op : ops_) {
    switch (op.kind) {
    case Kind::Rename: changed |= applyRename(op, doc); break;
    case Kind::Remove: changed |= applyRemove(op, doc); break;
    case Kind::Set:
    case Kind::Add: changed |= applySet(op, doc, resolve); break;
    case Kind::Move: changed |= applyMove(op, doc); break;
    }
  }
  if (!changed) {
    return Result::Unchanged;
  }
  write(doc, body);
  return Result::Changed;
}

std::string Program::describe() const {
  std::vector<std::string> parts;
  for (const Op& op : ops_) {
    parts.push_back(describeOp(op));
  }
  return parts.empty() ? "no operations" : absl::StrJoin(parts, ", ");
}

std::vector<const TemplateRef*> Program::references() const {
  std::vector<const TemplateRef*> out;
  for (const Op& op : ops_) {
    if (op.tmpl) {
      for (const auto& piece : op.tmpl->pieces) {
        if (!piece.literal) {
          out.push_back(&piece.ref);
        }
      }
    }
  }
  return out;
}

} // namespace gw::filters::json
