#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The driver as a patch series against a kernel tree (make patches).

The repository holds the driver as it is now; the series adds it to a
kernel tree in the order a maintainer reviews it: uapi header, driver core,
shrinker, free page hinting, page poison, documentation, selftests,
MAINTAINERS.  The driver's earlier stages are derived from the current file
by taking features out again, newest first, with the rules in STRIP below:
whole top-level definitions by name, statements by a pattern, and a few
literal replacements where a stage's code differs instead of only lacking
lines.  Every rule must match, so a rule that no longer fits the driver
stops the series instead of rotting quietly; the per-commit build
(`check`) tells whether each stage still compiles.

  series.py stages --repo R --out DIR
      write the staged driver files to DIR/<stage>/ (to read them)
  series.py generate --repo R --tree T --base REF --branch B --out DIR
      commit the series on branch B of the kernel git tree T (from REF) and
      write it to DIR with git format-patch, cover letter first
  series.py check --repo R --tree T --base REF --patches DIR --build O ...
      apply DIR's patches with git am to REF on a branch of their own,
      build the driver at every commit in each prepared O= directory (W=1,
      no warning) and the selftests once, run checkpatch --strict on every
      patch, and check that the last commit holds the repository's files
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

DRIVER = "drivers/virtio/virtio_balloon.c"
COMPAT = "drivers/virtio/virtio_balloon_compat.h"
UAPI = "include/uapi/linux/virtio_balloon.h"
DOC = "Documentation/driver-api/virtio/virtio_balloon.rst"
DOC_INDEX = "Documentation/driver-api/virtio/index.rst"
SELFTESTS = "tools/testing/selftests/drivers/virtio/balloon"
MAINTAINERS = "MAINTAINERS"
MAINTAINERS_ENTRY = "VIRTIO BALLOON"
# Commit messages, one file per patch (subject, blank line, body), and the
# cover letter, in the same form.
MESSAGES = "devtools/series"
COVER = "cover.txt"
# What checkpatch may say of the series: the MAINTAINERS patch comes last,
# so the patches before it add files that no entry covers yet; and the
# uapi header's VIRTIO_BALLOON_S_NAMES_WITH_PREFIX(prefix) uses its string
# argument once per name (no side effect; the macro stays for its users).
CHECKPATCH_IGNORE = "FILE_PATH_CHANGES,MACRO_ARG_REUSE"


class SeriesError(Exception):
    pass


# ---- the stripper ----------------------------------------------------

def _code(line, in_comment):
    """@line without comments and literals; whether a block comment is
    still open at its end."""
    out = []
    i = 0
    while i < len(line):
        if in_comment:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            i = end + 2
            in_comment = False
        elif line.startswith("/*", i):
            in_comment = True
            i += 2
        elif line.startswith("//", i):
            break
        elif line[i] in "\"'":
            quote = line[i]
            i += 1
            while i < len(line) and line[i] != quote:
                i += 2 if line[i] == "\\" else 1
            i += 1
            out.append(quote + quote)
        else:
            out.append(line[i])
            i += 1
    return "".join(out), in_comment


def _is_comment(line):
    t = line.strip()
    return t.startswith("/*") or t.startswith("*")


def _guard(lines):
    """Index of the include guard's #ifndef, or None."""
    directives = [i for i, l in enumerate(lines) if l.startswith("#")]
    if len(directives) >= 2:
        a, b = directives[:2]
        m = re.match(r"#ifndef\s+(\w+)", lines[a])
        if m and re.match(r"#define\s+" + m.group(1) + r"\b", lines[b]):
            return a
    return None


def chunks(lines):
    """Split a C file into top-level chunks: runs of lines between blank
    lines outside any brace, parenthesis or preprocessor conditional (the
    include guard aside).  A chunk of comments only belongs to the chunk
    after it.  Yields (first, last) line indices."""
    guard = _guard(lines)
    base = 1 if guard is not None else 0
    depth = paren = 0
    pp = 0
    in_comment = False
    start = None
    pending = None
    spans = []
    for i, line in enumerate(lines):
        if line.startswith("#"):
            if re.match(r"#\s*if", line):
                pp += 1
            elif re.match(r"#\s*endif", line):
                pp -= 1
        code, in_comment = _code(line, in_comment)
        depth += code.count("{") - code.count("}")
        paren += code.count("(") - code.count(")")
        if not line.strip():
            if start is not None and depth == 0 and paren == 0 and \
                    not in_comment and pp <= base:
                spans.append((start, i - 1))
                start = None
            continue
        if start is None:
            start = i
    if start is not None:
        spans.append((start, len(lines) - 1))
    merged = []
    for first, last in spans:
        if pending is not None:
            first = pending
            pending = None
        if all(_is_comment(l) for l in lines[first:last + 1]) and \
                (first, last) != spans[-1]:
            pending = first
            continue
        merged.append((first, last))
    return merged


def chunk_names(lines):
    """Names a chunk defines: macros, types, functions, variables."""
    names = set()
    top = []
    depth = 0
    in_comment = False
    in_macro = False
    for line in lines:
        m = re.match(r"#\s*define\s+(\w+)", line)
        if m:
            names.add(m.group(1))
        if line.startswith("#") or in_macro:
            # A directive goes on while its lines end with a backslash.
            in_macro = line.rstrip().endswith("\\")
            continue
        code, in_comment = _code(line, in_comment)
        for ch in code:
            if ch == "{":
                if depth == 0:
                    top.append("{}")
                depth += 1
            elif ch == "}":
                depth -= 1
            elif depth == 0:
                top.append(ch)
        top.append(" ")
    for decl in re.split(r";|\{\}", "".join(top)):
        decl = " ".join(decl.split())
        if not decl:
            continue
        decl = decl.split("=")[0]
        m = re.search(r"(\w+)\s*\(", decl)
        if m:
            names.add(m.group(1))
            continue
        m = re.search(r"\b(?:struct|enum|union)\s+(\w+)\s*$", decl)
        if m:
            names.add(m.group(1))
            continue
        m = re.search(r"(\w+)\s*(?:\[[^]]*\])?\s*$", decl)
        if m:
            names.add(m.group(1))
    return names


def _stmt_end(lines, i):
    """Last line of the statement (or comment item) that starts at @i."""
    line = lines[i]
    if _is_comment(line):
        if re.match(r"\s*\* @\w+:", line):
            cont = r"\s*\*\t"
        elif re.match(r"\s*\* - ", line):
            cont = r"\s*\*   \S"
        else:
            return i
        j = i
        while j + 1 < len(lines) and re.match(cont, lines[j + 1]):
            j += 1
        return j
    depth = paren = 0
    first = line.strip()
    for j in range(i, len(lines)):
        code, _ = _code(lines[j], False)
        depth += code.count("{") - code.count("}")
        paren += code.count("(") - code.count(")")
        t = code.strip()
        if depth or paren:
            continue
        if t.endswith((";", ",", ":", "}")):
            return j
        if j == i and re.match(r"(if|for|while)\b", first) or t == "else":
            return _stmt_end(lines, j + 1)
    raise SeriesError(f"no end to the statement at line {i + 1}: {line}")


def _comment_above(lines, i):
    """First line of a comment that ends just above line @i, or @i."""
    if i == 0 or not lines[i - 1].strip().endswith("*/") or \
            not _is_comment(lines[i - 1]):
        return i
    j = i - 1
    while j > 0 and "/*" not in lines[j]:
        j -= 1
    return j


def _tidy(lines):
    """No double blank lines, none just inside braces."""
    out = []
    for line in lines:
        if not line.strip():
            if not out or not out[-1].strip() or out[-1].rstrip().endswith("{"):
                continue
        elif line.strip() in ("}", "};") and out and not out[-1].strip():
            out.pop()
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return out


class DropDefs:
    """Drop every top-level chunk whose names all match @pattern."""

    def __init__(self, pattern):
        self.pattern = re.compile(pattern)

    def apply(self, lines):
        spans = chunks(lines)
        keep = [True] * len(lines)
        hits = 0
        for first, last in spans:
            names = chunk_names(lines[first:last + 1])
            matching = {n for n in names if self.pattern.fullmatch(n)}
            if not matching:
                continue
            if matching != names:
                raise SeriesError(
                    f"line {first + 1}: a definition of {sorted(matching)} "
                    f"shares its chunk with {sorted(names - matching)}; "
                    "put a blank line between them")
            for k in range(first, last + 1):
                keep[k] = False
            hits += 1
        return [l for l, k in zip(lines, keep) if k], hits

    def __str__(self):
        return f"definitions {self.pattern.pattern}"


class Drop:
    """Drop each statement (with the comment just above it) whose first
    line matches @pattern, and the @then statements after it."""

    def __init__(self, pattern, then=0):
        self.pattern = re.compile(pattern)
        self.then = then

    def apply(self, lines):
        hits = 0
        i = 0
        while i < len(lines):
            if not self.pattern.search(lines[i]):
                i += 1
                continue
            end = _stmt_end(lines, i)
            for _ in range(self.then):
                end = _stmt_end(lines, end + 1)
            first = i if _is_comment(lines[i]) else _comment_above(lines, i)
            del lines[first:end + 1]
            i = first
            hits += 1
        return lines, hits

    def __str__(self):
        return f"statements {self.pattern.pattern}"


class Replace:
    """Replace the text @old, which must occur once, by @new."""

    def __init__(self, old, new):
        self.old = old
        self.new = new

    def apply(self, lines):
        text = "\n".join(lines)
        hits = text.count(self.old)
        if hits != 1:
            return lines, 0
        return text.replace(self.old, self.new).split("\n"), 1

    def __str__(self):
        return "replacement of " + repr(self.old.strip().split("\n")[0])


def strip(text, rules, what):
    lines = text.split("\n")
    for rule in rules:
        lines, hits = rule.apply(lines)
        if not hits:
            raise SeriesError(f"{what}: the rule for {rule} matches nothing")
    return "\n".join(_tidy(lines)) + "\n"


# ---- the stages --------------------------------------------------------

# Page poison, taken out of the final driver.  Without it, a guest that
# fills freed pages does not report them at all.
POISON_VALIDATE = '''\
	/*
	 * PAGE_POISON tells the device what freed pages contain, which only
	 * means something if the guest fills them.  A guest that does must
	 * be able to tell the device, or pages it reports could come back
	 * with other contents: without PAGE_POISON it does not report.
	 */
	if (!fills_free_pages)
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_PAGE_POISON);
	if (fills_free_pages &&
	    !virtio_has_feature(vdev, VIRTIO_BALLOON_F_PAGE_POISON))
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_PAGE_REPORTING);
'''
NO_POISON_VALIDATE = '''\
	/*
	 * A guest that fills freed pages (page_poison, init_on_free) cannot
	 * tell the device so: pages it reported could come back with other
	 * contents, so it does not report.
	 */
	if (fills_free_pages)
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_PAGE_REPORTING);
'''

STRIP = {
    "poison": {
        DRIVER: [
            Drop(r"^ \* - tells the host how the guest initialises"),
            Replace("\tu32 target, poison = 0;", "\tu32 target;"),
            Drop(r"^\tif \(vb_has\(vb, VIRTIO_BALLOON_F_PAGE_POISON\)\)"),
            Drop(r'seq_printf\(f, "poison_val'),
            Drop(r"^\tu32 poison;$"),
            Replace(POISON_VALIDATE, NO_POISON_VALIDATE),
            Drop(r"^\tVIRTIO_BALLOON_F_PAGE_POISON,$"),
        ],
    },
    "hint": {
        DRIVER: [
            DropDefs(r"vb_hint\w*|VB_HINT_\w+"),
            Replace("#include <linux/list_sort.h>\n", ""),
            Drop(r"^ \* - (hints free pages|Free page hinting)"),
            Drop(r"^ \* - hinted blocks"),
            Drop(r"^\tVB_VQ_HINT,$"),
            Drop(r"^ \* @hint:"),
            Drop(r"^\tstruct vb_hint hint;$"),
            Drop(r"^\terr = vb_hint_init\(vb\);$", then=1),
            Drop(r"vb_hint_\w+\("),
            Drop(r"VB_CNT_HINT_"),
            Drop(r'seq_printf\(f, "hint_'),
            Drop(r"^\tif \(vb_has\(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT\)\)$"),
            Replace("!vb_has(vb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM) &&\n"
                    "\t    !vb_has(vb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))",
                    "!vb_has(vb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM))"),
            Drop(r"^\tVIRTIO_BALLOON_F_FREE_PAGE_HINT,$"),
        ],
        COMPAT: [
            DropDefs(r"VB_MAX_PAGE_ORDER"),
        ],
    },
    "shrinker": {
        DRIVER: [
            DropDefs(r"vb_oom_\w+|VB_OOM_\w+|VB_NO_OOM_TARGET|vb_shrink_\w+|"
                     r"vb_shrinker_ops|vb_(un)?register_shrinker"),
            Drop(r"^ \* - (gives balloon pages back|Deflate-on-OOM)"),
            Drop(r"^ \* @oom_target:|^\tu32 oom_target;$"),
            Drop(r"^ \* @resizing:|^\tbool resizing;$"),
            Drop(r"WRITE_ONCE\(vb->resizing, (true|false)\);$"),
            Drop(r"VB_CNT_OOM_DEFLATED"),
            Drop(r"^ \* @shrinker:|^\tstruct shrinker \*shrinker;$"),
            Replace('''/*
 * Without deflate-on-oom the balloon's pages are gone from the guest for
 * good, so they leave the guest's managed memory (and MemTotal); with it
 * they are only lent and stay counted.
 */
static void vb_account(struct virtio_balloon *vb, struct page *page, long n)
{
	if (!vb_has(vb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM))
		adjust_managed_page_count(page, n);
}''', '''/* The balloon's pages leave the guest's managed memory (and MemTotal). */
static void vb_account(struct virtio_balloon *vb, struct page *page, long n)
{
	adjust_managed_page_count(page, n);
}'''),
            Drop(r"^\t\t\tif \(target == READ_ONCE\(vb->oom_target\)\)$"),
            Drop(r"^\t\tif \(target != READ_ONCE\(vb->oom_target\)\)$"),
            Drop(r"^\tvb->oom_target = VB_NO_OOM_TARGET;$"),
            Drop(r'seq_printf\(f, "oom_'),
            Drop(r"^\terr = vb_register_shrinker\(vb\);$", then=1),
            Drop(r"^\tvb_unregister_shrinker\(vb\);$"),
            Drop(r"^\tVIRTIO_BALLOON_F_DEFLATE_ON_OOM,$"),
        ],
        COMPAT: [
            DropDefs(r"vb_shrinker_\w+|vb_account_reclaimed"),
        ],
    },
}
# The driver's stages, oldest first; each one's rules take it out of the
# stage after it.
STAGES = ["core", "shrinker", "hint", "poison"]


def staged_files(repo):
    """{stage: {path: text}} for the driver and its compat header."""
    current = {}
    for path in (DRIVER, COMPAT):
        with open(os.path.join(repo, path)) as f:
            current[path] = f.read()
    out = {STAGES[-1]: dict(current)}
    for later, stage in zip(reversed(STAGES), reversed(STAGES[:-1])):
        rules = STRIP[later]
        current = {path: strip(text, rules.get(path, []),
                               f"{path} without {later}")
                   if rules.get(path) else text
                   for path, text in current.items()}
        out[stage] = dict(current)
    return out


# ---- the patches -------------------------------------------------------

def _read(repo, path):
    with open(os.path.join(repo, path)) as f:
        return f.read()


def maintainers_identity(repo):
    """The M: line of our MAINTAINERS entry: who signs the series off."""
    for line in _read(repo, MAINTAINERS).splitlines():
        if line.startswith("M:"):
            return line[2:].strip()
    raise SeriesError("MAINTAINERS has no M: line")


def merge_maintainers(tree_text, entry_text):
    """The tree's MAINTAINERS with our entry merged into its own entry of
    the same name: its maintainers and files stay, ours are added, the
    files in order."""
    entry = [l for l in entry_text.strip().split("\n") if l]
    name = entry[0]
    lines = tree_text.split("\n")
    try:
        start = lines.index(name)
    except ValueError as e:
        raise SeriesError(f"the tree's MAINTAINERS has no '{name}' entry") from e
    end = start + 1
    while end < len(lines) and lines[end].strip():
        end += 1
    fields = lines[start + 1:end]
    for line in entry[1:]:
        if line not in fields:
            fields.append(line)
    order = "MRLSWQBCPTFXNK"
    fields.sort(key=lambda l: (order.find(l[0]), l[2:] if l[0] in "FX"
                               else ""))
    return "\n".join(lines[:start + 1] + fields + lines[end:])


def add_to_doc_index(text):
    """The tree's virtio documentation index with our page in it."""
    if re.search(r"^\s+virtio_balloon$", text, re.M):
        return text
    new, n = re.subn(r"^(\s+)(writing_virtio_drivers)$",
                     r"\1virtio_balloon\n\1\2", text, count=1, flags=re.M)
    if not n:
        raise SeriesError(f"{DOC_INDEX}: no writing_virtio_drivers entry")
    return new


def patches(repo, tree):
    """[(message file, {path: text or None to delete})], in series order."""
    stages = staged_files(repo)
    selftests = {}
    for name in sorted(os.listdir(os.path.join(repo, SELFTESTS))):
        path = os.path.join(SELFTESTS, name)
        if os.path.isfile(os.path.join(repo, path)) and \
                not name.endswith(".pyc"):
            selftests[path] = _read(repo, path)
    series = [("1-uapi.txt", {UAPI: _read(repo, UAPI)})]
    for n, stage in enumerate(STAGES, start=2):
        series.append((f"{n}-{stage}.txt", stages[stage]))
    series += [
        ("6-docs.txt", {DOC: _read(repo, DOC),
                        DOC_INDEX: add_to_doc_index(_read(tree, DOC_INDEX))}),
        ("7-selftests.txt", selftests),
        ("8-maintainers.txt", {MAINTAINERS: merge_maintainers(
            _read(tree, MAINTAINERS), _read(repo, MAINTAINERS))}),
    ]
    return series


def git(tree, *args, env=None, check=True, capture=True):
    r = subprocess.run(["git", "-C", tree, *args], env=env, text=True,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None)
    if check and r.returncode:
        raise SeriesError(f"git {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip() if capture else ""


def identity_env(repo):
    """Author, committer and date of the series: the MAINTAINERS entry and
    the repository's last commit, so the same tree gives the same series."""
    who = maintainers_identity(repo)
    m = re.match(r"(.*?)\s*<(.*)>", who)
    if not m:
        raise SeriesError(f"MAINTAINERS M: line '{who}' is not 'Name <mail>'")
    date = subprocess.run(["git", "-C", repo, "log", "-1", "--format=%cI"],
                          text=True, stdout=subprocess.PIPE).stdout.strip()
    env = dict(os.environ)
    env.update(GIT_AUTHOR_NAME=m.group(1), GIT_AUTHOR_EMAIL=m.group(2),
               GIT_COMMITTER_NAME=m.group(1), GIT_COMMITTER_EMAIL=m.group(2))
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return env, who


def message(repo, name, who):
    text = _read(repo, os.path.join(MESSAGES, name)).strip()
    lines = text.split("\n")
    if len(lines) < 3 or lines[1] or not lines[2]:
        raise SeriesError(f"{MESSAGES}/{name}: not a subject, a blank line "
                          "and a body")
    return f"{text}\n\nSigned-off-by: {who}\n"


def generate(repo, tree, base, branch, out):
    env, who = identity_env(repo)
    if git(tree, "status", "--porcelain", "--untracked-files=no"):
        raise SeriesError(f"{tree} has uncommitted changes")
    git(tree, "checkout", "-q", "-f", "-B", branch, base)
    for name, files in patches(repo, tree):
        for path, text in files.items():
            full = os.path.join(tree, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            # Replace, never write through: the tree may be hard links to
            # a pristine copy.
            if os.path.exists(full):
                os.unlink(full)
            with open(full, "w") as f:
                f.write(text)
        git(tree, "add", "-f", "--", *files)
        with tempfile.NamedTemporaryFile("w", suffix=".msg") as msg:
            msg.write(message(repo, name, who))
            msg.flush()
            git(tree, "commit", "-q", "-F", msg.name, env=env)
    if os.path.isdir(out):
        shutil.rmtree(out)
    git(tree, "format-patch", "-q", "--cover-letter", "--zero-commit",
        "--no-signature", "-B", "-o", os.path.abspath(out),
        f"{base}..{branch}", env=env)
    cover_letter(repo, out, git(tree, "log", "-1", "--format=%s", base).strip())
    return sorted(os.listdir(out))


def cover_letter(repo, out, base_subject):
    """Fill git's cover letter template in @out from COVER, whose {base}
    becomes the subject of the tree's base commit (its release)."""
    path = os.path.join(out, sorted(os.listdir(out))[0])
    subject, _, body = message(repo, COVER, "").partition("\n")
    body = body.rpartition("Signed-off-by:")[0].replace("{base}", base_subject)
    with open(path) as f:
        text = f.read()
    if "*** SUBJECT HERE ***" not in text or "*** BLURB HERE ***" not in text:
        raise SeriesError(f"{path} is not git's cover letter template")
    text = text.replace("*** SUBJECT HERE ***", subject.strip())
    text = text.replace("*** BLURB HERE ***", body.strip())
    with open(path, "w") as f:
        f.write(text)


# ---- checking the series ---------------------------------------------

def _run(cmd, log, cwd=None, env=None):
    with open(log, "w") as f:
        r = subprocess.run(cmd, cwd=cwd, env=env, stdout=f,
                           stderr=subprocess.STDOUT)
    with open(log) as f:
        return r.returncode, f.read()


def build_driver(tree, outdir, log):
    """Compile the driver in the prepared O= directory @outdir."""
    code, text = _run(["make", "-C", tree, f"O={outdir}", "W=1",
                       "drivers/virtio/virtio_balloon.o"], log)
    warnings = [l for l in text.splitlines()
                if re.search(r"virtio_balloon\w*\.[ch]:\d+:\d+: "
                             r"(warning|error)", l)]
    if code or warnings:
        tail = "\n".join((warnings or text.splitlines())[-20:])
        raise SeriesError(f"build in {outdir} failed (log: {log}):\n{tail}")


def check(repo, tree, base, patch_dir, builds, logdir):
    env, _ = identity_env(repo)
    names = sorted(n for n in os.listdir(patch_dir) if n.endswith(".patch"))
    mails = [os.path.join(patch_dir, n) for n in names
             if not n.startswith("0000-")]
    if not mails:
        raise SeriesError(f"no patches in {patch_dir}")
    os.makedirs(logdir, exist_ok=True)
    git(tree, "checkout", "-q", "-f", "-B", "series-check", base)
    r = subprocess.run(["git", "-C", tree, "am", "-q", *mails], env=env,
                       text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if r.returncode:
        git(tree, "am", "--abort", check=False)
        raise SeriesError(f"git am of the series on {base} failed:\n"
                          f"{r.stdout.strip()}")
    print(f"series: {len(mails)} patches apply with git am to a clean tree")
    commits = git(tree, "rev-list", "--reverse", f"{base}..HEAD").split()
    checkpatch = os.path.join(tree, "scripts", "checkpatch.pl")
    # checkpatch checks SPDX tags with scripts/spdxcheck.py, which needs
    # the python3-ply and python3-git packages: Debian's python3.
    cp_env = dict(os.environ, PATH="/usr/bin:" + os.environ.get("PATH", ""))
    for n, (commit, mail) in enumerate(zip(commits, mails), start=1):
        subject = git(tree, "log", "-1", "--format=%s", commit)
        code, text = _run(["perl", checkpatch, "--strict", "--terse",
                           "--show-types", "--ignore", CHECKPATCH_IGNORE,
                           mail], os.path.join(logdir, f"checkpatch-{n}.log"),
                          cwd=tree, env=cp_env)
        if code or "Traceback" in text:
            raise SeriesError(f"checkpatch --strict on {mail}:\n{text}")
        touched = git(tree, "diff-tree", "--no-commit-id", "--name-only",
                      "-r", commit).split()
        built = []
        if any(p.startswith(("drivers/", "include/")) for p in touched):
            git(tree, "checkout", "-q", commit)
            for outdir in builds:
                build_driver(tree, outdir, os.path.join(
                    logdir, f"build-{n}-{os.path.basename(outdir)}.log"))
                built.append(os.path.basename(outdir))
        print(f"series: [{n}/{len(mails)}] {subject}: checkpatch clean" +
              (f", builds ({', '.join(built)})" if built else ""))
    git(tree, "checkout", "-q", "series-check")
    build_selftests(tree, logdir)
    same_as_repo(repo, tree)


def build_selftests(tree, logdir):
    """The selftests through kselftest's own Makefile, out of the tree."""
    out = os.path.join(logdir, "kselftest")
    code, text = _run(["make", "-C", os.path.join(tree, "tools/testing/selftests"),
                       f"O={out}", "TARGETS=drivers/virtio/balloon"],
                      os.path.join(logdir, "selftests.log"))
    if code or re.search(r"warning:|error:", text):
        tail = "\n".join(text.splitlines()[-20:])
        raise SeriesError(f"the selftests do not build with kselftest:\n{tail}")
    print("series: the selftests build with kselftest's lib.mk")


def same_as_repo(repo, tree):
    """The series' last commit holds exactly the repository's files."""
    for name, files in patches(repo, tree):
        for path in files:
            if path in (DOC_INDEX, MAINTAINERS):
                continue
            if _read(tree, path) != _read(repo, path):
                raise SeriesError(f"{path} after the series differs from "
                                  "the repository's")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("command", choices=["stages", "generate", "check"])
    ap.add_argument("--repo", default=os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--tree", help="kernel git tree")
    ap.add_argument("--base", default="base", help="the tree's clean commit")
    ap.add_argument("--branch", default="series")
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--patches", help="the series to check")
    ap.add_argument("--build", action="append", default=[],
                    help="prepared O= directory to build the driver in")
    ap.add_argument("--logs", help="where check writes its logs")
    args = ap.parse_args()
    try:
        if args.command == "stages":
            for stage, files in staged_files(args.repo).items():
                for path, text in files.items():
                    dest = os.path.join(args.out, stage, os.path.basename(path))
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    with open(dest, "w") as f:
                        f.write(text)
            print(f"series: stages {', '.join(STAGES)} in {args.out}")
        elif args.command == "generate":
            for name in generate(args.repo, args.tree, args.base,
                                 args.branch, args.out):
                print(f"series: {os.path.join(args.out, name)}")
        else:
            check(args.repo, args.tree, args.base, args.patches, args.build,
                  args.logs or os.path.join(args.patches, "..", "series-logs"))
    except SeriesError as e:
        print(f"series: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
