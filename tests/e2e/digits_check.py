"""The digits classifier of tests/models (digits_mlp.c) run remotely and checked against its
test set (digits_testset.h): every held-out image, the number classified right, and the
first 16 rows of logits as recorded. Shared by the tests that run it on a server."""
import os
import re

import numpy as np

from conftest import ROOT

TESTSET = os.path.join(ROOT, "tests", "models", "digits_testset.h")


def header_array(name, dtype):
    with open(TESTSET) as f:
        body = re.search(r"\b%s\[\d+\] = \{([^}]*)\}" % name, f.read()).group(1)
    return np.array([float.fromhex(v.strip().rstrip("f")) if "0x" in v else int(v)
                     for v in body.split(",")], dtype)


def header_define(name):
    with open(TESTSET) as f:
        return int(re.search(r"#define %s (\d+)" % name, f.read()).group(1))


def run_and_check(s, fn):
    """Call fn(x, logits) on session s with the whole test set; returns (x, logits)."""
    pixels = header_array("digits_test_pixels", np.float32).reshape(-1, 64) / 16
    labels = header_array("digits_test_labels", np.int64)
    x = s.tensor(pixels.astype(np.float32))
    logits = s.empty((len(labels), 10))
    fn(x, logits)
    out = logits.numpy()
    assert int((out.argmax(axis=1) == labels).sum()) == header_define("DIGITS_TEST_CORRECT")
    expected16 = header_array("digits_test_logits16", np.float32).reshape(16, 10)
    assert np.allclose(out[:16], expected16, rtol=1e-5, atol=1e-4)
    return x, logits
