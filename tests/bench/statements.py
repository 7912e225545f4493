"""The service's SQL statements, read from the repositories' sources (db/*.cpp).

Each statement is a `constexpr Statement kName{"mg_name", "SQL" MACRO "SQL"...};` whose text is
C string literals and macros defined in the same file or in a header of db/ (db/*.hpp) as
`#define MACRO "..." \\ "..."`. Reading them from the source keeps the pgbench scripts of
tests/bench in step with what the gateway runs.

Pgbench scripts name statements as {{mg_name ARG1 ARG2 ...}}: render() replaces each with the SQL
of that statement, its $1, $2, ... replaced by the arguments (pgbench variables such as :uid, or
SQL literals such as NULL). The script supplies the terminator (`;` or pgbench's `\gset`). Lines
starting with `--` are the template's own comments and are left out.
"""
import glob
import os
import re
import subprocess
import tempfile

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?\*/|[A-Za-z_][A-Za-z0-9_]*|\\\n|.',
                    re.S)
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'"}


def _tokens(text):
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token.startswith("//") or token.startswith("/*") or token == "\\\n":
            continue
        if token.isspace():
            if "\n" in token:
                yield "\n"
            continue
        yield token


def _literal(token):
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _expand(tokens, macros):
    parts = []
    for token in tokens:
        if token.startswith('"'):
            parts.append(_literal(token))
        elif token in macros:
            parts.append(macros[token])
        else:
            raise ValueError(f"unexpected token {token!r} in a statement")
    return "".join(parts)


def parse_file(path, macros=None):
    """{statement name: SQL} of one source file. `macros` (name: text) are those it may use
    besides its own; the file's own definitions are added to it."""
    with open(path, encoding="utf-8") as f:
        tokens = list(_tokens(f.read()))
    macros = {} if macros is None else macros
    statements = {}
    i = 0
    while i < len(tokens):
        if tokens[i] == "#" and i + 2 < len(tokens) and tokens[i + 1] == "define":
            name, j, body = tokens[i + 2], i + 3, []
            while j < len(tokens) and tokens[j] != "\n":
                body.append(tokens[j])
                j += 1
            if body and all(t.startswith('"') or t in macros for t in body):
                macros[name] = _expand(body, macros)
            i = j
        elif tokens[i] == "Statement" and i + 2 < len(tokens) and tokens[i + 2] == "{" \
                and i > 0 and tokens[i - 1] == "constexpr":
            j, body = i + 3, []
            while tokens[j] != "}":
                if tokens[j] != "\n":
                    body.append(tokens[j])
                j += 1
            comma = body.index(",")
            name = _expand(body[:comma], macros)
            statements[name] = _expand(body[comma + 1:], macros)
            i = j
        else:
            i += 1
    return statements


def load(root):
    """{statement name: SQL} over all of db/*.cpp under the repository root, with the macros
    of db/*.hpp."""
    shared = {}
    for path in sorted(glob.glob(os.path.join(root, "db", "*.hpp"))):
        parse_file(path, shared)
    statements = {}
    for path in sorted(glob.glob(os.path.join(root, "db", "*.cpp"))):
        statements.update(parse_file(path, dict(shared)))
    return statements


def load_revision(root, revision):
    """As load(), with db/*.cpp and db/*.hpp as they are at a git revision of the repository
    (for a binary built from it while the working tree has moved on)."""
    with tempfile.TemporaryDirectory(prefix="mg-statements-") as tree:
        os.mkdir(os.path.join(tree, "db"))
        names = subprocess.run(["git", "-C", root, "ls-tree", "--name-only", f"{revision}:db"],
                               check=True, capture_output=True, text=True).stdout.split()
        for name in names:
            if name.endswith((".cpp", ".hpp")):
                text = subprocess.run(["git", "-C", root, "show", f"{revision}:db/{name}"],
                                      check=True, capture_output=True).stdout
                with open(os.path.join(tree, "db", name), "wb") as f:
                    f.write(text)
        return load(tree)


def used_by(template):
    """The statement names a template uses."""
    lines = [line for line in template.splitlines() if not line.lstrip().startswith("--")]
    return sorted({m.split()[0] for m in re.findall(r"\{\{(.*?)\}\}", "\n".join(lines))})


def render(template, statements):
    """A pgbench script from a template naming statements as {{mg_name ARG...}}."""
    def replace(match):
        words = match.group(1).split()
        name, args = words[0], words[1:]
        if name not in statements:
            raise KeyError(f"no statement named {name} in db/*.cpp")
        sql = statements[name]
        wanted = {int(n) for n in re.findall(r"\$(\d+)", sql)}
        if wanted != set(range(1, len(args) + 1)):
            raise ValueError(f"{name} takes {len(wanted)} parameters, the script gives "
                             f"{len(args)}")
        # Highest numbers first, so that $1 does not eat the start of $10.
        for n in sorted(wanted, reverse=True):
            sql = sql.replace(f"${n}", args[n - 1])
        return sql
    lines = [line for line in template.splitlines() if not line.lstrip().startswith("--")]
    return re.sub(r"\{\{(.*?)\}\}", replace, "\n".join(lines) + "\n")
