"""Conformance with TVM's own server, global by global: every case in
tests/conformance/cases_<group>.py runs on our device server and its trace must match the
golden recorded on TVM's C++ tvm_rpc (tests/conformance/goldens/<group>.json). Also checks that
every global TVM's server offers (tests/conformance/tvm_globals.json), apart from the
documented exclusions, is present on ours and exercised by some golden."""
import json
import os
import subprocess
import sys

import pytest

from conftest import BIN, ROOT
from test_server_session import SANITIZER_MARKS, Services

CONF = os.path.join(ROOT, "tests", "conformance")
sys.path.insert(0, CONF)
import harness as h  # noqa: E402


def catalogue():
    """`tvmrpc-console --list-globals`: [(status, name, reason)]."""
    out = subprocess.run([BIN, "--list-globals"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split("\t")
        rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return rows


def left_out(name, rows):
    """The reason our catalogue gives for leaving TVM's global `name` out, or None."""
    for status, pattern, reason in rows:
        if status == "absent" and name.startswith(pattern.rstrip("*")):
            return reason
    return None


def in_scope():
    rows = catalogue()
    return [n for n in tvm_globals() if left_out(n, rows) is None]


def all_cases():
    out = []
    for g in h.groups():
        for name, fn in h.load_cases(g):
            out.append(pytest.param(g, name, fn, id="%s-%s" % (g, name)))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    svcs = Services(tmp_path_factory.mktemp("conformance"))
    # The goldens come from TVM's tvm_rpc built without OpenCL: ours runs without it too.
    saved = os.environ.get("TVMRPC_OPENCL_LIBRARY")
    os.environ["TVMRPC_OPENCL_LIBRARY"] = "/nonexistent/libOpenCL.so.1"
    try:
        srv = svcs.start("the device server", "server", ["--key", "cpu"])
    finally:
        if saved is None:
            del os.environ["TVMRPC_OPENCL_LIBRARY"]
        else:
            os.environ["TVMRPC_OPENCL_LIBRARY"] = saved
    yield srv
    dead = svcs.close()
    assert not dead, "the server died:\n%s" % srv.text()
    text = srv.text()
    assert not any(m in text for m in SANITIZER_MARKS), text


@pytest.mark.parametrize("group,name,fn", all_cases())
def test_case_matches_tvm(server, group, name, fn):
    gold = h.load_golden(group)
    assert name in gold["cases"], "%s.%s has no golden: run tests/conformance/record.py" % (
        group, name)
    runner = h.Runner("127.0.0.1", server.port, "cpu", ours=True)
    h.compare_trace(h.run_case(runner, fn), gold["cases"][name], "%s.%s" % (group, name))


def tvm_globals():
    with open(os.path.join(CONF, "tvm_globals.json")) as f:
        return json.load(f)["globals"]


def test_every_tvm_global_is_present(server):
    """The in-scope globals of TVM's server all exist on ours (refused ones count: they
    answer with a clear error)."""
    want = in_scope()
    s = h.w.Session.connect("127.0.0.1", server.port, "cpu")
    try:
        missing = []
        for name in want:
            hd = s.get_global_func(name)
            if hd:
                s.free_handle(hd)
            else:
                missing.append(name)
        s.shutdown()
    finally:
        s.close()
    assert not missing, "%d of TVM's %d in-scope globals are missing: %s" % (
        len(missing), len(want), ", ".join(missing))


def test_every_tvm_global_has_a_golden():
    covered = set()
    for g in h.groups():
        covered |= h.globals_in_golden(h.load_golden(g))
    want = in_scope()
    uncovered = [n for n in want if n not in covered]
    assert not uncovered, "no recorded case calls: %s" % ", ".join(uncovered)


def test_scope_is_the_issue_count():
    """TVM's server offers 278 globals. Left out: disco, test functions and the LLM builtins;
    that leaves 195: the issue's 189 plus 6 that call back into Python, which ours refuses."""
    rows = catalogue()
    want = in_scope()
    assert len(tvm_globals()) == 278
    assert len(want) == 195
    python = [n for n in want if "py_func" in n or n.startswith("ffi._")]
    assert len(python) == 6
    refused = {name for status, name, _ in rows if status == "refused"}
    assert set(python) <= refused


def test_docs_table_is_generated_from_the_code():
    out = subprocess.run([BIN, "--list-globals", "--markdown"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    with open(os.path.join(ROOT, "docs", "globals.md")) as f:
        assert f.read() == out, "docs/globals.md is stale: run make docs"
    for status, name, reason in catalogue():
        if status == "refused":
            assert reason, name


def test_schema_table_is_generated_from_the_recording():
    """src/runtime/ffi_schema_table.inc (ffi.GetGlobalFuncMetadata's answers) is what
    scripts/gen-schema-table.py makes of tests/conformance/tvm_globals.json."""
    rc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-schema-table.py"),
                         "--check"], timeout=60).returncode
    assert rc == 0, "src/runtime/ffi_schema_table.inc is stale: run scripts/gen-schema-table.py"
