"""The scanner on each format: archives, Keras, ONNX, files it does not inspect,
broken files, and the allowlist itself."""

from __future__ import annotations

import io
import json
import os
import pickle
import stat
import tarfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from lockstep.errors import InputError, PathError
from lockstep.supplychain.scan import Allowlist, Finding, ScanReport, format_of, scan_path
from lockstep.supplychain.scan.keras import configs_in_bytes, configs_with_h5py
from tests.supplychain.corpus import Reduce, call, global_text, stack_global, text

EVIL = call(global_text("os", "system"), text("true")) + b"."


def kinds(path: Path, extra: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(f.kind, f.where) for f in scan_path(path, extra).findings]


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name), content)
    return path


# --- zip and tar ----------------------------------------------------------------------


def test_zip_members_that_escape_the_folder(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "bundle.zip",
        {
            "ok/model.txt": b"x",
            "../evil.sh": b"x",
            "/etc/cron.d/job": b"x",
            "a/../../b.txt": b"x",
            "C:\\Windows\\x.dll": b"x",
            "a/../fine.txt": b"x",
        },
    )
    assert kinds(path) == [
        ("path-traversal", "../evil.sh"),
        ("path-traversal", "/etc/cron.d/job"),
        ("path-traversal", "a/../../b.txt"),
        ("path-traversal", "C:\\Windows\\x.dll"),
    ]
    detail = scan_path(path).findings[0].detail
    assert detail == (
        "member path '../evil.sh' climbs out of the folder it is extracted to: "
        "extracting it writes outside the target folder"
    )


def test_a_zip_symlink_that_points_outside(tmp_path: Path) -> None:
    path = tmp_path / "links.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, target in (("inside", "data/x"), ("outside", "../../etc/passwd")):
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    assert kinds(path) == [("link", "outside")]


def test_tar_members_links_and_devices(tmp_path: Path) -> None:
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as archive:

        def add(info: tarfile.TarInfo, content: bytes = b"") -> None:
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))

        add(tarfile.TarInfo("model/weights.bin"), b"\0" * 8)
        add(tarfile.TarInfo("../escape.txt"), b"x")
        link = tarfile.TarInfo("model/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        add(link)
        near = tarfile.TarInfo("model/near")
        near.type, near.linkname = tarfile.SYMTYPE, "weights.bin"
        add(near)
        hard = tarfile.TarInfo("model/hard")
        hard.type, hard.linkname = tarfile.LNKTYPE, "../../x"
        add(hard)
        fifo = tarfile.TarInfo("model/pipe")
        fifo.type = tarfile.FIFOTYPE
        add(fifo)
        add(tarfile.TarInfo("model/model.pkl"), EVIL)
    found = kinds(path)
    assert found == [
        ("path-traversal", "../escape.txt"),
        ("link", "model/passwd"),
        ("link", "model/hard"),
        ("special-file", "model/pipe"),
        ("import", "model/model.pkl, offset 0"),
    ]


def test_archives_inside_archives(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("archive/data.pkl", EVIL)
    path = write_zip(tmp_path / "release.zip", {"models/net.pt": inner.getvalue()})
    assert kinds(path) == [("import", "models/net.pt, archive/data.pkl, offset 0")]


def test_a_benign_zip_and_a_broken_one(tmp_path: Path) -> None:
    good = write_zip(
        tmp_path / "good.zip",
        {"readme.txt": b"hi", "model.pkl": pickle.dumps({"w": np.ones(3)}, protocol=5)},
    )
    assert scan_path(good).safe
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    [finding] = scan_path(broken).findings
    assert finding.kind == "unreadable"
    assert finding.detail.startswith("not a readable zip file")


# --- Keras --------------------------------------------------------------------------------

LAMBDA = {
    "class_name": "Lambda",
    "config": {"name": "shell", "function": ["4wEAAAAAAAAA", None, None]},
}
DENSE = {"class_name": "Dense", "config": {"name": "dense", "units": 2}}


def keras3(layers: list[dict[str, object]]) -> dict[str, object]:
    wrapped = [{"module": "keras.layers", "registered_name": None, **layer} for layer in layers]
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": wrapped},
    }


def write_keras(path: Path, config: object) -> Path:
    weights = write_h5(path.with_suffix(".weights.h5"), None)
    members = {
        "metadata.json": json.dumps({"keras_version": "3.3.3"}).encode(),
        "config.json": json.dumps(config).encode(),
        "model.weights.h5": weights.read_bytes(),
    }
    weights.unlink()
    return write_zip(path, members)


def test_a_keras_file_with_a_lambda_layer(tmp_path: Path) -> None:
    path = write_keras(tmp_path / "model.keras", keras3([DENSE, LAMBDA]))
    [finding] = scan_path(path).findings
    assert (finding.kind, finding.where, finding.name) == (
        "lambda-layer",
        "config.json, layer 'shell'",
        "Lambda",
    )
    assert "runs the Python code stored with it" in finding.detail


def test_a_keras_file_without_code_is_safe(tmp_path: Path) -> None:
    assert scan_path(write_keras(tmp_path / "model.keras", keras3([DENSE]))).safe


def test_a_keras_class_from_outside_keras(tmp_path: Path) -> None:
    custom = {"module": "mylayers.attention", "class_name": "Gate", "config": {"name": "gate"}}
    config = keras3([DENSE])
    config["config"]["layers"].append(custom)  # type: ignore[index]
    path = write_keras(tmp_path / "model.keras", config)
    assert kinds(path) == [("custom-object", "config.json, layer 'gate'")]
    assert scan_path(path, ["mylayers"]).safe
    assert scan_path(path, ["mylayers.attention.Gate"]).safe


def test_keras_files_that_cannot_be_read(tmp_path: Path) -> None:
    no_config = write_zip(tmp_path / "a.keras", {"metadata.json": b"{}"})
    bad_json = write_zip(tmp_path / "b.keras", {"config.json": b"{nope"})
    not_zip = tmp_path / "c.keras"
    not_zip.write_bytes(b"hello")
    for path in (no_config, bad_json, not_zip):
        assert [f.kind for f in scan_path(path).findings] == ["unreadable"], path


def write_h5(path: Path, config: object | None) -> Path:
    with h5py.File(path, "w") as handle:
        if config is not None:
            handle.attrs["model_config"] = json.dumps(config).encode()
        handle.attrs["keras_version"] = "2.15.0"
        handle.create_dataset("model_weights/dense/kernel", data=np.arange(8.0).reshape(4, 2))
    return path


def test_an_h5_model_with_a_lambda_layer(tmp_path: Path) -> None:
    config = {"class_name": "Sequential", "config": {"layers": [DENSE, LAMBDA]}}
    path = write_h5(tmp_path / "model.h5", config)
    assert kinds(path) == [("lambda-layer", "model_config, layer 'shell'")]
    # without h5py, the configuration is found in the bytes: the same one
    assert configs_in_bytes(path) == configs_with_h5py(path) == [config]


def test_tf_op_lambda_layers_are_found_in_the_bytes_too(tmp_path: Path) -> None:
    op = {"class_name": "TFOpLambda", "config": {"name": "tf.io.write_file", "function": "io"}}
    path = write_h5(tmp_path / "model.hdf5", {"class_name": "Functional", "config": {"l": [op]}})
    assert [c["config"]["l"][0]["class_name"] for c in configs_in_bytes(path)] == ["TFOpLambda"]  # type: ignore[index]
    assert kinds(path) == [("lambda-layer", "model_config, layer 'tf.io.write_file'")]


def test_an_h5_file_of_weights_only_is_safe(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "weights.h5", None)
    assert scan_path(path).safe
    assert configs_in_bytes(path) == [] == configs_with_h5py(path)


# --- ONNX ---------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def number(field_number: int, value: int) -> bytes:
    return varint(field_number << 3) + varint(value)


def tensor(name: str, location: str | None) -> bytes:
    body = number(1, 2) + number(2, 1) + field(8, name.encode())  # dims, FLOAT, name
    if location is None:
        return body + field(9, b"\0" * 8)  # raw_data
    entries = field(13, field(1, b"location") + field(2, location.encode()))
    entries += field(13, field(1, b"offset") + field(2, b"0"))
    return body + entries + number(14, 1)  # data_location EXTERNAL


def onnx_model(initializers: list[bytes], subgraph: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    graph = field(2, b"main") + b"".join(field(5, t) for t in initializers)
    if subgraph:
        branch = field(2, b"then") + b"".join(field(5, t) for t in subgraph)
        attribute = field(1, b"then_branch") + field(6, branch)
        graph = field(1, field(4, b"If") + field(5, attribute)) + graph
    return number(1, 8) + field(2, b"test") + field(7, graph)


def test_onnx_external_data_outside_the_model_folder(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0" * 8)
    path = tmp_path / "model.onnx"
    path.write_bytes(
        onnx_model(
            [
                tensor("inline", None),
                tensor("local", "weights.bin"),
                tensor("secret", "../../etc/passwd"),
                tensor("absolute", "/etc/shadow"),
            ],
            subgraph=[tensor("hidden", "sub/../../../root/.ssh/id_rsa")],
        )
    )
    found = scan_path(path).findings
    assert [(f.kind, f.where) for f in found] == [
        ("external-data", "tensor 'hidden'"),  # in the If node's subgraph, before initializers
        ("external-data", "tensor 'secret'"),
        ("external-data", "tensor 'absolute'"),
    ]
    assert found[1].detail == (
        "external data location '../../etc/passwd' climbs out of the folder it is extracted "
        "to: loading reads that file"
    )


def test_onnx_external_data_through_a_link(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.bin").write_bytes(b"\0" * 8)
    (tmp_path / "model").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "model" / "linked")
    path = tmp_path / "model" / "model.onnx"
    path.write_bytes(onnx_model([tensor("w", "linked/secret.bin")]))
    [finding] = scan_path(path).findings
    assert "through a link" in finding.detail


def test_onnx_that_is_not_a_protobuf(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x0a\xff\xff\xff\x0f")  # a field longer than the file
    assert [f.kind for f in scan_path(path).findings] == ["unreadable"]
    assert scan_path(_write(tmp_path / "ok.onnx", onnx_model([tensor("w", None)]))).safe


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


# --- what is inspected, what is not, what is broken ----------------------------------------


def test_files_in_other_formats_are_skipped_not_unsafe(tmp_path: Path) -> None:
    notes = _write(tmp_path / "notes.txt", b"hello")
    weights = _write(tmp_path / "weights.bin", b"\x00\x01\x02")
    report = scan_path(tmp_path)
    assert report.safe
    assert report.skipped == (str(notes), str(weights))


def test_broken_pickles_are_unsafe(tmp_path: Path) -> None:
    good = pickle.dumps({"a": np.arange(3)}, protocol=4)
    cases = {
        "garbage.pkl": b"this is not a pickle",
        "empty.pkl": b"",
        "truncated.pkl": good[: len(good) // 2],
        "model.joblib": b"\x04\x22\x4d\x18" + b"\0" * 20,  # lz4
        "old.joblib": b"ZF0x10" + b"\0" * 20,
        "bad_zlib.joblib": b"x\x9c" + b"\xff" * 20,
    }
    for name, content in cases.items():
        findings = scan_path(_write(tmp_path / name, content)).findings
        assert [f.kind for f in findings] == ["unreadable"], name


def test_a_pickle_hidden_after_the_first_one(tmp_path: Path) -> None:
    path = _write(tmp_path / "model.pkl", pickle.dumps([1, 2], protocol=2) + EVIL)
    [finding] = scan_path(path).findings
    assert finding.name == "os.system"
    assert finding.detail.endswith("(in a further pickle after the first one's STOP)")


def test_a_pickle_is_recognised_by_its_header_whatever_its_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "blob", pickle.dumps(Reduce(os.system, "true"), protocol=2))
    assert [f.name for f in scan_path(path).findings] == ["posix.system"]


def test_a_joblib_array_inside_an_unfinished_frame(tmp_path: Path) -> None:
    """joblib reads array bytes from the file, past the frame the unpickler holds:
    a wrapper built mid-frame would make the two readings disagree."""
    dtype = call(stack_global("numpy", "dtype"), text("u1"), b"\x89", b"\x88")
    state = b"}(" + text("shape") + b"K\x04\x85" + text("dtype") + dtype + b"u"
    wrapper = stack_global("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81"
    body = wrapper + state + b"b0"  # BUILD, then a POP still inside the frame
    framed = b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body + b"\0" * 4 + b"N."
    path = _write(tmp_path / "model.joblib", framed)
    [finding] = scan_path(path).findings
    assert finding.kind == "unreadable"
    assert "inside a frame" in finding.detail


def test_every_pickle_opcode_has_a_meaning() -> None:
    import pickletools

    from lockstep.supplychain.scan import machine

    known = set(machine._HANDLERS) | machine._LITERAL_OPS | machine._TEXT_OPS
    known |= set(machine._CONSTANTS) | set(machine._EMPTY) | machine._NO_EFFECT
    known |= machine._GET_OPS | machine._PUT_OPS
    assert known == {op.name for op in pickletools.opcodes}


def test_formats_by_name_and_head() -> None:
    assert format_of("x.pt", b"PK\x03\x04") == "zip"
    assert format_of("x.bin", b"\x80\x02") == "pickle"
    assert format_of("x.pkl.gz", b"\x1f\x8b") == "pickle"
    assert format_of("x.tar.gz", b"\x1f\x8b") == "tar"
    assert format_of("x.h5", b"") == "h5"
    assert format_of("x.onnx", b"") == "onnx"
    assert format_of("x.csv", b"a,b") is None


def test_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PathError, match="does not exist"):
        scan_path(tmp_path / "nope.pkl")


def test_git_folders_are_not_scanned(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    _write(tmp_path / ".git" / "evil.pkl", EVIL)
    assert scan_path(tmp_path).files == ()


def test_reports_combine_and_serialise() -> None:
    finding = Finding("a.pkl", "offset 0", "import", "GLOBAL os.system", "GLOBAL", "os.system")
    one = ScanReport(("a.pkl", "b.txt"), (finding,), ("b.txt",))
    two = ScanReport(("a.pkl", "c.pkl"), (finding,))
    both = ScanReport.combine([one, two])
    assert both.files == ("a.pkl", "b.txt", "c.pkl")
    assert both.findings == (finding,)
    assert both.to_dict() == {
        "safe": False,
        "files": ["a.pkl", "b.txt", "c.pkl"],
        "skipped": ["b.txt"],
        "unsafe": ["a.pkl"],
        "findings": [finding.to_dict()],
    }


# --- the allowlist --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper"),
        ("xgboost.sklearn", "XGBClassifier"),
        ("lightgbm.basic", "Booster"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("builtins", "set"),
        ("copyreg", "_reconstructor"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ],
)
def test_allowed_globals(module: str, name: str) -> None:
    assert Allowlist().refusal(module, name) is None


@pytest.mark.parametrize(
    ("module", "name", "why"),
    [
        ("builtins", "getattr", "not on the allowlist (reaches any attribute of what it is given)"),
        ("builtins", "object.__subclasses__", "a dotted name reaches attributes of other objects"),
        ("numpy", "load", "not on the allowlist"),
        ("numpy.ctypeslib", "load_library", "not on the allowlist"),
        ("sklearn.utils._testing", "check_output", "not on the allowlist"),
        ("sklearn.datasets._openml", "Request", "not on the allowlist"),
        ("xgboost.tracker", "RabitTracker", "not on the allowlist"),
        ("lightgbm.basic", "NamedTemporaryFile", "not on the allowlist"),
        ("scipy.io", "loadmat", "not on the allowlist"),
        ("joblib", "load", "not on the allowlist (loads a nested pickle)"),
        ("torch.storage", "_load_from_bytes", "not on the allowlist"),
        ("os system", "x", "not an importable name"),
    ],
)
def test_refused_globals(module: str, name: str, why: str) -> None:
    assert Allowlist().refusal(module, name) == why


def test_extra_entries_allow_a_module_or_one_global() -> None:
    allow = Allowlist.with_extra(["mypkg.features", "other.mod.Scorer"])
    assert allow.refusal("mypkg.features", "Scale") is None
    assert allow.refusal("mypkg.features.text", "tokenize") is None
    assert allow.refusal("other.mod", "Scorer") is None
    assert allow.refusal("other.mod", "run") == "not on the allowlist"
    assert allow.refusal("mypkg.features", "os.system") is not None  # dotted: never by prefix
    with pytest.raises(InputError, match="not a dotted name"):
        Allowlist.with_extra(["bad name"])
