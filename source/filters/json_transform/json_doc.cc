#include "source/filters/json_transform/json_doc.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace gw::filters::json {
namespace {

constexpr char kNumberTag = 'n';
constexpr char kStringTag = 's';

// SAX handler: forwards to the Document, tagging strings and number texts, counting depth.
class TaggingHandler {
public:
  explicit TaggingHandler(Document& d) : d_(d) {}
  bool Null() { return d_.Null(); }
  bool Bool(bool b) { return d_.Bool(b); }
  // With kParseNumbersAsStringsFlag every number arrives as RawNumber; these never run.
  bool Int(int) { return false; }
  bool Uint(unsigned) { return false; }
  bool Int64(int64_t) { return false; }
  bool Uint64(uint64_t) { return false; }
  bool Double(double) { return false; }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) { return tagged(kNumberTag, s, n); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    return scalarValue(s, n) && tagged(kStringTag, s, n);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    return scalarValue(s, n) && d_.Key(s, n, true);
  }
  bool StartObject() { return ++depth_ <= kMaxDepth ? d_.StartObject() : tooDeep(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return d_.EndObject(n);
  }
  bool StartArray() { return ++depth_ <= kMaxDepth ? d_.StartArray() : tooDeep(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return d_.EndArray(n);
  }
  bool too_deep = false;
  bool lone_surrogate = false;

private:
  // RapidJSON decodes a lone "\udc00" escape into the UTF-8 form of a surrogate (0xED 0xA0..0xBF),
  // which is not UTF-8 and would be written out as such: refused (RFC 7493 2.1). The raw input
  // cannot hold one (the encoding is validated), so only escapes make it.
  bool scalarValue(const char* s, rapidjson::SizeType n) {
    for (const char* p = s; (p = static_cast<const char*>(memchr(p, '\xed', s + n - p)));) {
      if (++p < s + n && static_cast<unsigned char>(*p) >= 0xa0) {
        lone_surrogate = true;
        return false;
      }
    }
    return true;
  }

  bool tooDeep() {
    too_deep = true;
    return false;
  }
  bool tagged(char tag, const char* s, rapidjson::SizeType n) {
    char* buf = static_cast<char*>(d_.GetAllocator().Malloc(n + 2));
    buf[0] = tag;
    memcpy(buf + 1, s, n);
    buf[n + 1] = '\0';
    return d_.String(buf, n + 1, false);  // refers to the pool copy
  }
  Document& d_;
  int depth_ = 0;
};

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void writeValue(Writer& w, const Value& v) {
  switch (v.GetType()) {
  case rapidjson::kNullType: w.Null(); return;
  case rapidjson::kFalseType: w.Bool(false); return;
  case rapidjson::kTrueType: w.Bool(true); return;
  case rapidjson::kObjectType:
    w.StartObject();
    for (const auto& m : v.GetObject()) {
      w.Key(m.name.GetString(), m.name.GetStringLength());
      writeValue(w, m.value);
    }
    w.EndObject();
    return;
  case rapidjson::kArrayType:
    w.StartArray();
    for (const auto& e : v.GetArray()) {
      writeValue(w, e);
    }
    w.EndArray();
    return;
  case rapidjson::kStringType: {
    const char* s = v.GetString();
    const rapidjson::SizeType n = v.GetStringLength();
    if (n > 0 && s[0] == kNumberTag) {
      w.RawValue(s + 1, n - 1, rapidjson::kNumberType);
    } else {
      w.String(n > 0 ? s + 1 : s, n > 0 ? n - 1 : 0);
    }
    return;
  }
  case rapidjson::kNumberType:  // not made by parse(); written as RapidJSON holds it
    if (v.IsInt64()) {
      w.Int64(v.GetInt64());
    } else if (v.IsUint64()) {
      w.Uint64(v.GetUint64());
    } else {
      w.Double(v.GetDouble());
    }
    return;
  }
}

} // namespace

bool parse(absl::string_view text, Document& doc, std::string& error) {
  // A NUL ends RapidJSON's input early; it is never valid outside a string's escapes anyway.
  if (const void* nul = memchr(text.data(), 0, text.size())) {
    error = absl::StrCat("invalid JSON at byte ",
                         static_cast<const char*>(nul) - text.data(), ": NUL byte");
    return false;
  }
  rapidjson::MemoryStream ms(text.data(), text.size());
  rapidjson::Reader reader;
  TaggingHandler h(doc);
  auto gen = [&](Document& d) {
    (void)d;
    return reader.Parse<rapidjson::kParseNumbersAsStringsFlag |
                        rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(
               ms, h)
        .IsError() == false;
  };
  doc.Populate(gen);
  if (!reader.HasParseError()) {
    return true;
  }
  if (h.lone_surrogate) {
    error = absl::StrCat("invalid JSON at byte ", reader.GetErrorOffset(),
                         ": a \\u escape of a lone surrogate");
  } else if (h.too_deep) {
    error = absl::StrCat("invalid JSON at byte ", reader.GetErrorOffset(), ": nested deeper than ",
                         kMaxDepth, " levels");
  } else {
    error = absl::StrCat("invalid JSON at byte ", reader.GetErrorOffset(), ": ",
                         rapidjson::GetParseError_En(reader.GetParseErrorCode()));
  }
  return false;
}

void write(const Value& v, std::string& out) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  writeValue(w, v);
  out.assign(sb.GetString(), sb.GetSize());
}

void setString(Value& v, absl::string_view s, Allocator& alloc) {
  char* buf = static_cast<char*>(alloc.Malloc(s.size() + 2));
  buf[0] = kStringTag;
  memcpy(buf + 1, s.data(), s.size());
  buf[s.size() + 1] = '\0';
  v.SetString(rapidjson::StringRef(buf, static_cast<rapidjson::SizeType>(s.size() + 1)));
}

void copyValue(Value& to, const Value& from, Allocator& alloc) {
  to.CopyFrom(from, alloc);  // the constant strings of `from` are referred to, not copied
}

} // namespace gw::filters::json
