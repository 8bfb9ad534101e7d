// torch_pickle.cpp: the restricted unpickler for torch.save's data.pkl (see torch_bin.h).
//
// Values live in an arena owned by the interpreter and refer to each other by index, so a hostile
// pickle that builds cycles (a list appended to itself) neither leaks nor recurses: nothing here
// walks a value recursively except the state-dict unwrapping, which is depth-limited.
// Opcode numbers and semantics: CPython's Lib/pickle.py and Lib/pickletools.py.
#include "ssmlab/hf/torch_bin.h"

#include <cctype>
#include <cstring>
#include <map>
#include <unordered_map>

namespace ssmlab::hf {

namespace {

enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

// The globals a state dict may name; anything else is refused by GLOBAL/STACK_GLOBAL.
enum class Global { OrderedDict, RebuildTensorV2, RebuildParameter, StorageClass };

struct StorageClass {
  const char* name;
  DType dtype;
};
constexpr StorageClass kStorageClasses[] = {
    {"FloatStorage", DType::F32}, {"HalfStorage", DType::F16}, {"BFloat16Storage", DType::BF16},
    {"DoubleStorage", DType::F64}, {"LongStorage", DType::I64}, {"IntStorage", DType::I32},
    {"ShortStorage", DType::I16},  {"CharStorage", DType::I8},  {"ByteStorage", DType::U8},
    {"BoolStorage", DType::BOOL}};

struct Value {
  Kind kind = Kind::None;
  int64_t i = 0;  // Int, Bool; Global: the Global enum; Storage/Tensor: index into storages/tensors
  double f = 0;
  std::string s;                 // Str; Global: "module.name"
  DType dtype = DType::F32;      // Global StorageClass
  std::vector<std::size_t> items;                          // Tuple, List
  std::vector<std::pair<std::size_t, std::size_t>> dict;  // Dict, in insertion order
};

class Unpickler {
 public:
  Unpickler(const uint8_t* data, std::size_t size, const std::string& label) : p_(data), end_(data + size), begin_(data), label_(label) {}

  std::vector<TorchPickledTensor> run() {
    const std::size_t top = interpret();
    std::vector<TorchPickledTensor> out;
    collect(top, 0, out);
    return out;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_;
  std::string label_;
  std::vector<Value> arena_;
  std::vector<std::size_t> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<uint64_t, std::size_t> memo_;
  std::vector<TorchPickledTensor> tensors_;  // created by _rebuild_tensor_v2 (name filled in later)
  std::vector<TorchPickledTensor> storages_; // one per persistent id: dtype, key, location, numel
  std::map<std::string, std::size_t> storage_by_key_;
  std::size_t contained_ = 0;  // items added to lists and dicts (BINGET pushes without creating a value)
  unsigned op_ = 0;
  std::size_t op_pos_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(label_ + ": data.pkl: " + what + " (opcode 0x" + hex(op_) + " at byte " + std::to_string(op_pos_) + ")");
  }
  static std::string hex(unsigned b) {
    const char* d = "0123456789abcdef";
    return std::string{d[(b >> 4) & 15], d[b & 15]};
  }

  // ---- reading the opcode stream
  const uint8_t* take(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) fail("truncated (needs " + std::to_string(n) + " more bytes)");
    const uint8_t* r = p_;
    p_ += n;
    return r;
  }
  uint64_t le(unsigned n) {
    const uint8_t* b = take(n);
    uint64_t v = 0;
    for (unsigned k = 0; k < n; ++k) v |= static_cast<uint64_t>(b[k]) << (8 * k);
    return v;
  }
  std::string line() {  // GLOBAL's "module\n" / "name\n"
    const void* nl = std::memchr(p_, '\n', static_cast<std::size_t>(end_ - p_));
    if (!nl) fail("truncated GLOBAL (no newline)");
    const auto* q = static_cast<const uint8_t*>(nl);
    std::string s(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(q - p_));
    p_ = q + 1;
    if (s.size() > 256) fail("GLOBAL name longer than 256 bytes");
    return s;
  }

  // ---- values
  std::size_t make(Value v) {
    if (arena_.size() >= TorchBinLimits::kMaxObjects) fail("more than " + std::to_string(TorchBinLimits::kMaxObjects) + " objects");
    arena_.push_back(std::move(v));
    return arena_.size() - 1;
  }
  std::size_t make_kind(Kind k) {
    Value v;
    v.kind = k;
    return make(std::move(v));
  }
  std::size_t make_int(int64_t i) {
    Value v;
    v.kind = Kind::Int;
    v.i = i;
    return make(std::move(v));
  }
  Value& at(std::size_t id) { return arena_[id]; }

  void push(std::size_t id) {
    if (stack_.size() >= TorchBinLimits::kMaxStack) fail("stack deeper than " + std::to_string(TorchBinLimits::kMaxStack));
    stack_.push_back(id);
  }
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }  // items below a MARK are not ours
  std::size_t pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    const std::size_t id = stack_.back();
    stack_.pop_back();
    return id;
  }
  std::size_t& top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<std::size_t> pop_mark() {  // the items above the last MARK, and the MARK itself
    if (marks_.empty()) fail("no MARK on the stack");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<std::size_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  std::size_t tuple(std::vector<std::size_t> items) {
    Value v;
    v.kind = Kind::Tuple;
    v.items = std::move(items);
    return make(std::move(v));
  }
  void memo_put(uint64_t idx) {
    if (idx >= TorchBinLimits::kMaxMemo) fail("memo index " + std::to_string(idx) + " too large");
    const std::size_t id = top();
    memo_[idx] = id;
  }
  std::size_t memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("memo index " + std::to_string(idx) + " was never stored");
    return it->second;
  }
  void add_items(std::size_t n) {
    contained_ += n;
    if (contained_ > TorchBinLimits::kMaxObjects) fail("more than " + std::to_string(TorchBinLimits::kMaxObjects) + " items in lists and dicts");
  }
  Value& expect(std::size_t id, Kind k, const char* what) {
    if (at(id).kind != k) fail(std::string(what) + " is a " + kind_name(at(id).kind) + ", expected a " + kind_name(k));
    return at(id);
  }

  std::size_t global(const std::string& module, const std::string& name) {
    Value v;
    v.kind = Kind::Global;
    v.s = module + "." + name;
    if (module == "collections" && name == "OrderedDict") {
      v.i = static_cast<int64_t>(Global::OrderedDict);
    } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
      v.i = static_cast<int64_t>(Global::RebuildTensorV2);
    } else if (module == "torch._utils" && name == "_rebuild_parameter") {
      v.i = static_cast<int64_t>(Global::RebuildParameter);
    } else {
      bool found = false;
      if (module == "torch")
        for (const auto& c : kStorageClasses)
          if (name == c.name) v.i = static_cast<int64_t>(Global::StorageClass), v.dtype = c.dtype, found = true;
      if (!found)
        fail("global '" + printable_name(module) + "." + printable_name(name) +
             "' is not allowed (a state dict needs only collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
             "torch._utils._rebuild_parameter and torch.*Storage)");
    }
    return make(std::move(v));
  }
  static std::string printable_name(const std::string& s) {
    std::string o;
    for (char c : s.substr(0, 80)) o += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    return o;
  }

  std::vector<int64_t> int_tuple(std::size_t id, const char* what) {
    const Value& v = at(id);
    if (v.kind != Kind::Tuple) fail(std::string(what) + " is a " + kind_name(v.kind) + ", expected a tuple of ints");
    if (v.items.size() > TorchBinLimits::kMaxDims) fail(std::string(what) + " has more than " + std::to_string(TorchBinLimits::kMaxDims) + " dimensions");
    std::vector<int64_t> r;
    for (std::size_t e : v.items) {
      if (at(e).kind != Kind::Int) fail(std::string(what) + " holds a " + kind_name(at(e).kind) + ", expected ints");
      r.push_back(at(e).i);
    }
    return r;
  }

  // BINPERSID: ('storage', <storage class>, key, location, numel) -> a Storage value
  std::size_t persistent_load(std::size_t pid) {
    const Value& t = at(pid);
    if (t.kind != Kind::Tuple || t.items.size() != 5)
      fail("persistent id is not a 5-tuple ('storage', class, key, location, numel)");
    const Value& tag = at(t.items[0]);
    if (tag.kind != Kind::Str || tag.s != "storage") fail("persistent id does not start with 'storage'");
    const Value& cls = at(t.items[1]);
    if (cls.kind != Kind::Global || cls.i != static_cast<int64_t>(Global::StorageClass))
      fail("persistent id's storage class is not a torch.*Storage");
    const Value& key = at(t.items[2]);
    const Value& loc = at(t.items[3]);
    const Value& numel = at(t.items[4]);
    if (key.kind != Kind::Str || key.s.empty() || key.s.size() > 64) fail("storage key is not a short string");
    for (char c : key.s)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
        fail("storage key '" + printable_name(key.s) + "' has characters other than [A-Za-z0-9_-]");
    if (loc.kind != Kind::Str || loc.s.size() > 64) fail("storage location is not a short string");
    if (numel.kind != Kind::Int || numel.i < 0) fail("storage '" + key.s + "': element count is not an int >= 0");
    auto it = storage_by_key_.find(key.s);
    if (it != storage_by_key_.end()) {
      const auto& s = storages_[it->second];
      if (s.dtype != cls.dtype || s.storage_numel != numel.i)
        fail("storage '" + key.s + "' is used with two different types or sizes");
    } else {
      TorchPickledTensor s;
      s.dtype = cls.dtype;
      s.storage_key = key.s;
      s.location = loc.s;
      s.storage_numel = numel.i;
      storage_by_key_[key.s] = storages_.size();
      storages_.push_back(std::move(s));
      it = storage_by_key_.find(key.s);
    }
    Value v;
    v.kind = Kind::Storage;
    v.i = static_cast<int64_t>(it->second);
    return make(std::move(v));
  }

  // REDUCE: callable(*args) for the allowed callables only
  std::size_t reduce(std::size_t fn, std::size_t args_id) {
    const Value& f = at(fn);
    if (f.kind != Kind::Global) fail("REDUCE of a " + std::string(kind_name(f.kind)) + " (only allowed globals may be called)");
    if (expect(args_id, Kind::Tuple, "REDUCE's arguments").items.size() > 7) fail("REDUCE with more than 7 arguments");
    const std::vector<std::size_t> args = at(args_id).items;
    switch (static_cast<Global>(f.i)) {
      case Global::OrderedDict:
        if (!args.empty()) fail("collections.OrderedDict called with arguments");
        return make_kind(Kind::Dict);
      case Global::RebuildTensorV2: {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (args.size() != 6 && args.size() != 7) fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + std::to_string(args.size()));
        const Value& st = expect(args[0], Kind::Storage, "_rebuild_tensor_v2's storage");
        TorchPickledTensor t = storages_[static_cast<std::size_t>(st.i)];
        t.storage_offset = expect(args[1], Kind::Int, "_rebuild_tensor_v2's storage offset").i;
        t.shape = int_tuple(args[2], "_rebuild_tensor_v2's size");
        t.strides = int_tuple(args[3], "_rebuild_tensor_v2's stride");
        if (t.shape.size() != t.strides.size()) fail("_rebuild_tensor_v2: size and stride have different lengths");
        expect(args[4], Kind::Bool, "_rebuild_tensor_v2's requires_grad");
        const Value& hooks = at(args[5]);
        if (!(hooks.kind == Kind::Dict && hooks.dict.empty()) && hooks.kind != Kind::None)
          fail("_rebuild_tensor_v2: backward hooks are not supported");
        if (args.size() == 7 && at(args[6]).kind != Kind::None && at(args[6]).kind != Kind::Dict)
          fail("_rebuild_tensor_v2's metadata is not a dict");
        Value v;
        v.kind = Kind::Tensor;
        v.i = static_cast<int64_t>(tensors_.size());
        tensors_.push_back(std::move(t));
        return make(std::move(v));
      }
      case Global::RebuildParameter: {  // (tensor, requires_grad, backward_hooks)
        if (args.size() != 3) fail("_rebuild_parameter takes 3 arguments, got " + std::to_string(args.size()));
        expect(args[0], Kind::Tensor, "_rebuild_parameter's data");
        return args[0];
      }
      case Global::StorageClass: fail("a storage class is called (only persistent ids may load storages)");
    }
    fail("REDUCE of an unknown global");
  }

  std::size_t interpret() {
    while (true) {
      op_pos_ = static_cast<std::size_t>(p_ - begin_);
      op_ = *take(1);
      switch (op_) {
        case 0x80: {  // PROTO
          const unsigned v = static_cast<unsigned>(le(1));
          if (v < 2 || v > 5) fail("pickle protocol " + std::to_string(v) + " (torch.save writes 2; 2-5 are read)");
          break;
        }
        case 0x95: {  // FRAME: a length hint; the opcodes follow inline
          const uint64_t n = le(8);
          if (n > static_cast<uint64_t>(end_ - p_)) fail("FRAME longer than the rest of the pickle");
          break;
        }
        case '.': {  // STOP
          const std::size_t v = pop();
          if (!marks_.empty()) fail("STOP with an open MARK");
          return v;
        }
        case '(':  // MARK
          if (marks_.size() >= TorchBinLimits::kMaxMarks) fail("MARKs nested deeper than " + std::to_string(TorchBinLimits::kMaxMarks));
          marks_.push_back(stack_.size());
          break;
        case '}': push(make_kind(Kind::Dict)); break;   // EMPTY_DICT
        case ']': push(make_kind(Kind::List)); break;   // EMPTY_LIST
        case ')': push(tuple({})); break;               // EMPTY_TUPLE
        case 't': push(tuple(pop_mark())); break;       // TUPLE
        case 0x85: { const std::size_t a = pop(); push(tuple({a})); break; }  // TUPLE1
        case 0x86: {  // TUPLE2
          const std::size_t b = pop(), a = pop();
          push(tuple({a, b}));
          break;
        }
        case 0x87: {  // TUPLE3
          const std::size_t c = pop(), b = pop(), a = pop();
          push(tuple({a, b, c}));
          break;
        }
        case 'N': push(make_kind(Kind::None)); break;  // NONE
        case 0x88:                                     // NEWTRUE
        case 0x89: {                                   // NEWFALSE
          Value v;
          v.kind = Kind::Bool;
          v.i = op_ == 0x88;
          push(make(std::move(v)));
          break;
        }
        case 'J': push(make_int(static_cast<int32_t>(static_cast<uint32_t>(le(4))))); break;  // BININT
        case 'K': push(make_int(static_cast<int64_t>(le(1)))); break;                         // BININT1
        case 'M': push(make_int(static_cast<int64_t>(le(2)))); break;                         // BININT2
        case 0x8a: {  // LONG1: n-byte two's complement, little-endian
          const unsigned n = static_cast<unsigned>(le(1));
          if (n > 8) fail("LONG1 of " + std::to_string(n) + " bytes (at most 8 fit an int64)");
          uint64_t v = n ? le(n) : 0;
          if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          push(make_int(static_cast<int64_t>(v)));
          break;
        }
        case 'G': {  // BINFLOAT: big-endian IEEE double
          const uint8_t* b = take(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | b[k];
          Value v;
          v.kind = Kind::Float;
          std::memcpy(&v.f, &bits, 8);
          push(make(std::move(v)));
          break;
        }
        case 'X':     // BINUNICODE (u32 length)
        case 0x8c:    // SHORT_BINUNICODE (u8 length)
        case 0x8d: {  // BINUNICODE8 (u64 length)
          const uint64_t n = le(op_ == 'X' ? 4 : op_ == 0x8c ? 1 : 8);
          const uint8_t* b = take(n);
          Value v;
          v.kind = Kind::Str;
          v.s.assign(reinterpret_cast<const char*>(b), static_cast<std::size_t>(n));
          push(make(std::move(v)));
          break;
        }
        case 'q': memo_put(le(1)); break;        // BINPUT
        case 'r': memo_put(le(4)); break;        // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
        case 'h': push(memo_get(le(1))); break;  // BINGET
        case 'j': push(memo_get(le(4))); break;  // LONG_BINGET
        case 'c': {                              // GLOBAL "module\nname\n"
          const std::string module = line();
          const std::string name = line();
          push(global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const std::size_t name = pop(), module = pop();
          push(global(expect(module, Kind::Str, "STACK_GLOBAL's module").s, expect(name, Kind::Str, "STACK_GLOBAL's name").s));
          break;
        }
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        case 'R': {                                     // REDUCE
          const std::size_t args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 'b': {  // BUILD: obj.__setstate__(state); only a dict's attributes (state dict _metadata)
          const std::size_t state = pop();
          const Value& obj = at(top());
          if (obj.kind != Kind::Dict) fail("BUILD on a " + std::string(kind_name(obj.kind)) + " (only an OrderedDict's attributes are accepted)");
          const Kind sk = at(state).kind;
          if (sk != Kind::Dict && sk != Kind::None && sk != Kind::Tuple) fail("BUILD with a " + std::string(kind_name(sk)) + " state");
          break;  // the state (e.g. {'_metadata': ...}) is ignored
        }
        case 's': {  // SETITEM
          const std::size_t v = pop(), k = pop();
          add_items(1);
          expect(top(), Kind::Dict, "SETITEM's target").dict.emplace_back(k, v);
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<std::size_t> kv = pop_mark();
          if (kv.size() % 2) fail("SETITEMS with an odd number of items");
          add_items(kv.size() / 2);
          Value& d = expect(top(), Kind::Dict, "SETITEMS' target");
          for (std::size_t k = 0; k < kv.size(); k += 2) d.dict.emplace_back(kv[k], kv[k + 1]);
          break;
        }
        case 'a': {  // APPEND
          const std::size_t v = pop();
          add_items(1);
          expect(top(), Kind::List, "APPEND's target").items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          std::vector<std::size_t> vs = pop_mark();
          add_items(vs.size());
          Value& l = expect(top(), Kind::List, "APPENDS' target");
          l.items.insert(l.items.end(), vs.begin(), vs.end());
          break;
        }
        case '0': pop(); break;  // POP
        default: fail("opcode not supported by ssmlab's torch.save reader (no code execution, state dicts only)");
      }
    }
  }

  // The state dict: a dict of tensors, possibly wrapped in {"state_dict"|"model"|"module": {...}}.
  void collect(std::size_t id, int depth, std::vector<TorchPickledTensor>& out) {
    op_ = '.';
    op_pos_ = static_cast<std::size_t>(p_ - begin_) - 1;
    const Value& d = at(id);
    if (d.kind != Kind::Dict) fail("the pickle holds a " + std::string(kind_name(d.kind)) + ", not a dict of tensors (a state dict)");
    bool all_tensors = true;
    for (const auto& [k, v] : d.dict) all_tensors = all_tensors && at(v).kind == Kind::Tensor;
    if (!all_tensors && depth < TorchBinLimits::kMaxWrapperDepth)
      for (const char* w : {"state_dict", "model", "module"})
        for (const auto& [k, v] : d.dict)
          if (at(k).kind == Kind::Str && at(k).s == w && at(v).kind == Kind::Dict) return collect(v, depth + 1, out);
    std::map<std::string, std::size_t> index;  // a repeated key replaces the earlier entry, as in Python
    for (const auto& [k, v] : d.dict) {
      if (at(k).kind != Kind::Str) fail("state dict key is a " + std::string(kind_name(at(k).kind)) + ", not a string");
      const std::string& name = at(k).s;
      if (at(v).kind != Kind::Tensor) fail("state dict entry '" + printable_name(name) + "' is not a tensor (" + kind_name(at(v).kind) + ")");
      TorchPickledTensor t = tensors_[static_cast<std::size_t>(at(v).i)];
      t.name = name;
      auto it = index.find(name);
      if (it != index.end()) {
        out[it->second] = std::move(t);
      } else {
        index[name] = out.size();
        out.push_back(std::move(t));
      }
    }
  }
};

}  // namespace

std::vector<TorchPickledTensor> parse_torch_pickle(const uint8_t* data, std::size_t size, const std::string& label) {
  if (size > TorchBinLimits::kMaxPickleBytes) throw Error(label + ": data.pkl is larger than " + std::to_string(TorchBinLimits::kMaxPickleBytes >> 20) + " MB");
  if (size == 0) throw Error(label + ": data.pkl is empty");
  return Unpickler(data, size, label).run();
}

}  // namespace ssmlab::hf
