"""The TVM-compiled MLP classifier (tests/fixtures/mlp_digits.so) classifies the whole
held-out digits set on our server as well as the fixture README says TVM's own runtime did:
0.9596 (285 of 297). The held-out set is the first 297 images of the UCI digits data shipped
by Debian's python3-sklearn in numpy.random.RandomState(0).permutation order (the 16 images
of mlp_digits_input.npy are exactly its first 16, which this test checks too). The model's
batch is fixed at 16, so the last batch is padded."""
import numpy as np
import pytest

import tvm_wire as w
from test_relax_vm import fixture, init, load, new_vm, server, session  # noqa: F401 (fixture)

# A legitimate skip: the reference data set comes from scikit-learn, which may be absent.
sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="python3-sklearn is missing")


def held_out():
    digits = sklearn_datasets.load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    order = np.random.RandomState(0).permutation(len(x))[:297]
    return x[order], digits.target[order]


def test_held_out_accuracy_matches_tvm(server):  # noqa: F811 (pytest fixture)
    x, labels = held_out()
    np.testing.assert_array_equal(x[:16], np.load(fixture("mlp_digits_input.npy")))
    np.testing.assert_array_equal(labels[:16], np.load(fixture("mlp_digits_labels.npy")))
    s = session(server)
    mod = load(s)
    vm, methods = new_vm(s, mod)
    assert init(s, vm, 1, 0, 2) is None
    main = s.module_get_function(vm, "main")
    batch = s.empty((16, 64), "float32")
    predictions = []
    for start in range(0, len(x), 16):
        chunk = x[start:start + 16]
        padded = np.zeros((16, 64), np.float32)
        padded[:len(chunk)] = chunk
        s.copy_to_remote(batch.header, padded.tobytes())
        out = main(batch)
        assert isinstance(out, w.ReturnedTensor)
        predictions.extend(out.numpy().argmax(axis=1)[:len(chunk)])
        out.free()
    correct = int((np.array(predictions) == labels).sum())
    assert correct == 285, "%d of 297 correct; TVM's runtime got 285" % correct
    for f in methods.values():
        f.free()
    main.free()
    vm.free()
    mod.free()
    batch.free()
    s.shutdown()
