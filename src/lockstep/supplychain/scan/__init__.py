"""``lockstep scan``: is a model file safe to load? Decided without loading it.

Pickles and joblib files are read opcode by opcode and every global they import
must be on an allowlist (numpy, scipy.sparse, scikit-learn, XGBoost, LightGBM,
torch tensors, builtins that build data; extended with ``[scan] allow`` in
``.lockstep/config.toml``); archives must not write outside their folder; Keras
models must have no ``Lambda`` layers; ONNX external data must stay in the
model's folder. Nothing is imported from the scanned files and nothing in them runs.

    report = scan_path(Path("models"), extra_allow=["mypkg.features"])
    report.safe, report.findings      # Finding(file, where, kind, detail, opcode, name)
"""

from lockstep.supplychain.scan.allowlist import Allowlist
from lockstep.supplychain.scan.files import format_of, scan_path
from lockstep.supplychain.scan.report import Finding, ScanReport

__all__ = ["Allowlist", "Finding", "ScanReport", "format_of", "scan_path"]
