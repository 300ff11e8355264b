"""Reads Kafka message schemas (JSON with // comments) into a small model for the emitters.

The model resolves what the emitters need and nothing more: C++ names, version ranges of
each field (present, nullable, tagged, flexible), defaults, and the nested struct tree.
"""

import json
import os
import re

PRIMITIVES = {
    "int8": ("int8_t", 1),
    "int16": ("int16_t", 2),
    "uint16": ("uint16_t", 2),
    "int32": ("int32_t", 4),
    "uint32": ("uint32_t", 4),
    "int64": ("int64_t", 8),
    "float64": ("double", 8),
    "bool": ("bool", 1),
    "uuid": ("uuid", 16),
}
INTEGERS = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
VARIABLE = ("string", "bytes", "records")

CPP_KEYWORDS = set(
    """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t
    char16_t char32_t class compl concept const consteval constexpr constinit const_cast
    continue co_await co_return co_yield decltype default delete do double dynamic_cast else
    enum explicit export extern false float for friend goto if inline int long mutable
    namespace new noexcept not not_eq nullptr operator or or_eq private protected public
    register reinterpret_cast requires return short signed sizeof static static_assert
    static_cast struct switch template this thread_local throw true try typedef typeid
    typename union unsigned using virtual void volatile wchar_t while xor xor_eq""".split()
)
# Names the generated structs declare themselves or use unqualified in declarations.
# (A member may be called `records` or `uuid`: its type is then spelled qualified.)
RESERVED_MEMBER_NAMES = {"reader", "writer", "decode", "encode"}
TOP_LEVEL_MEMBER_NAMES = {"api_key", "min_version", "max_version", "first_flexible_version"}


class SchemaError(Exception):
    pass


def strip_comments(text):
    """Removes // comments that are outside JSON strings."""
    out = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        else:
            out.append(c)
            i += 1
    return "".join(out)


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


class Versions:
    """A closed version interval [lo, hi]; hi None means open-ended; lo None means empty."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    @staticmethod
    def parse(spec):
        spec = str(spec).strip()
        if spec == "none":
            return Versions(None, None)
        if spec.endswith("+"):
            return Versions(int(spec[:-1]), None)
        if "-" in spec:
            lo, hi = spec.split("-", 1)
            return Versions(int(lo), int(hi))
        return Versions(int(spec), int(spec))

    def empty(self):
        return self.lo is None or (self.hi is not None and self.hi < self.lo)

    def intersect(self, other):
        if self.empty() or other.empty():
            return Versions(None, None)
        lo = max(self.lo, other.lo)
        his = [h for h in (self.hi, other.hi) if h is not None]
        hi = min(his) if his else None
        r = Versions(lo, hi)
        return Versions(None, None) if r.empty() else r

    def contains(self, v):
        return not self.empty() and v >= self.lo and (self.hi is None or v <= self.hi)

    def below(self, v):
        """The part of this range below version v."""
        return self.intersect(Versions(0, v - 1)) if v > 0 else Versions(None, None)

    def each(self):
        assert not self.empty() and self.hi is not None
        return range(self.lo, self.hi + 1)

    def __repr__(self):
        if self.empty():
            return "none"
        return f"{self.lo}+" if self.hi is None else f"{self.lo}-{self.hi}"


def condition(rng, ctx, var):
    """C++ condition for `var` in `rng`, given that `var` is known to lie in `ctx`."""
    inter = rng.intersect(ctx)
    if inter.empty():
        return "false"
    parts = []
    if inter.lo > ctx.lo:
        parts.append(f"{var} >= {inter.lo}")
    if inter.hi is not None and (ctx.hi is None or inter.hi < ctx.hi):
        parts.append(f"{var} <= {inter.hi}")
    return " && ".join(parts) if parts else "true"


class Field:
    def __init__(self, spec, msg, parent):
        self.json_name = spec["name"]
        self.spec = spec
        self.parent = parent
        self.versions = Versions.parse(spec.get("versions", "none"))
        self.nullable = Versions.parse(spec.get("nullableVersions", "none"))
        self.tag = spec.get("tag")
        self.tagged = Versions.parse(spec["taggedVersions"]) if "taggedVersions" in spec else None
        if (self.tag is None) != (self.tagged is None):
            raise SchemaError(f"{msg.name}.{self.json_name}: tag and taggedVersions go together")
        self.flexible = (
            Versions.parse(spec["flexibleVersions"]) if "flexibleVersions" in spec else msg.flexible
        )
        raw_type = spec["type"]
        self.is_array = raw_type.startswith("[]")
        self.base_type = raw_type[2:] if self.is_array else raw_type
        self.struct = None  # Struct for struct / struct-array fields
        if self.base_type not in PRIMITIVES and self.base_type not in VARIABLE:
            if not self.base_type[:1].isupper():
                raise SchemaError(f"{msg.name}.{self.json_name}: unknown type {raw_type}")
        if self.is_array and self.base_type == "records":
            raise SchemaError(f"{msg.name}.{self.json_name}: arrays of records are not supported")
        self.default = spec.get("default")
        self.cname = snake(self.json_name)

    @property
    def is_struct(self):
        return self.struct is not None

    def regular_versions(self):
        """Versions in which the field is a regular (untagged) field."""
        if self.tagged is None:
            return self.versions
        return self.versions.below(self.tagged.lo)

    def tagged_versions(self):
        if self.tagged is None:
            return Versions(None, None)
        return self.versions.intersect(self.tagged)

    def nullable_anywhere(self):
        return not self.nullable.intersect(self.versions).empty()

    def default_is_null(self):
        return isinstance(self.default, str) and self.default == "null"


class Struct:
    def __init__(self, json_name, msg, parent, versions):
        self.json_name = json_name
        self.msg = msg
        self.parent = parent  # enclosing Struct or None
        self.versions = versions  # versions in which this struct can appear
        self.fields = []
        self.nested = []  # structs declared inside this one, in declaration order
        self.cname = snake(json_name)
        self.is_common = False

    def qualified(self):
        names = []
        s = self
        while s is not None:
            names.append(s.cname)
            s = s.parent
        return "::".join(reversed(names))

    def ancestors(self):
        s = self.parent
        while s is not None:
            yield s
            s = s.parent

    def all_structs(self):
        """This struct and every struct declared inside it, parents before children."""
        yield self
        for n in self.nested:
            yield from n.all_structs()


class Message:
    def __init__(self, spec, path):
        self.path = path
        self.name = spec["name"]
        self.kind = spec["type"]  # request, response, header, data, metadata
        self.api_key = spec.get("apiKey", -1) if self.kind in ("request", "response") else -1
        self.valid = Versions.parse(spec["validVersions"])
        if self.valid.empty() or self.valid.hi is None:
            raise SchemaError(f"{self.name}: validVersions must be a closed range")
        self.flexible = Versions.parse(spec.get("flexibleVersions", "none"))
        self.first_flexible = -1 if self.flexible.empty() else self.flexible.lo
        self.cname = snake(self.name)
        self.root = Struct(self.name, self, None, self.valid)
        self.common = {}
        for cs in spec.get("commonStructs", []):
            st = Struct(cs["name"], self, self.root, Versions.parse(cs["versions"]).intersect(self.valid))
            st.is_common = True
            self.common[cs["name"]] = (st, cs["fields"])
        # Common structs are declared first, in dependency order.
        self._common_order = []
        self._resolving = set()
        for name in sorted(self.common):
            self._resolve_common(name)
        self.root.nested = list(self._common_order)
        self._build(self.root, spec["fields"])
        self._assign_names()

    def _resolve_common(self, name):
        st, fields = self.common[name]
        if st in self._common_order:
            return st
        if name in self._resolving:
            raise SchemaError(f"{self.name}: recursive common struct {name}")
        self._resolving.add(name)
        self._build(st, fields)
        self._resolving.discard(name)
        self._common_order.append(st)
        return st

    def _build(self, struct, field_specs):
        for fs in field_specs:
            f = Field(fs, self, struct)
            if f.base_type not in PRIMITIVES and f.base_type not in VARIABLE:
                ctx = f.versions.intersect(struct.versions)
                if "fields" in fs:
                    nested = Struct(f.base_type, self, struct, ctx)
                    self._build(nested, fs["fields"])
                    struct.nested.append(nested)
                    f.struct = nested
                elif f.base_type in self.common:
                    f.struct = self._resolve_common(f.base_type)
                else:
                    raise SchemaError(f"{self.name}.{f.json_name}: unknown struct {f.base_type}")
            struct.fields.append(f)

    def _assign_names(self):
        type_names = {s.cname for s in self.root.all_structs()}
        for st in self.root.all_structs():
            # A nested class may not share its enclosing class's name.
            while st.parent is not None and st.cname in {a.cname for a in st.ancestors()}:
                st.cname += "_type"
        type_names = {s.cname for s in self.root.all_structs()}
        for st in self.root.all_structs():
            taken = set(CPP_KEYWORDS) | RESERVED_MEMBER_NAMES | type_names
            if st.parent is None:
                taken |= TOP_LEVEL_MEMBER_NAMES
            seen = set()
            for f in st.fields:
                while f.cname in taken or f.cname in seen:
                    f.cname += "_"
                seen.add(f.cname)

    def structs(self):
        return list(self.root.all_structs())


def load_schema(path):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        spec = json.loads(strip_comments(text))
    except json.JSONDecodeError as e:
        raise SchemaError(f"{path}: {e}") from e
    return Message(spec, path)


def load_all(schema_dir):
    messages = {}
    for name in sorted(os.listdir(schema_dir)):
        if name.endswith(".json"):
            m = load_schema(os.path.join(schema_dir, name))
            messages[m.name] = m
    return messages
