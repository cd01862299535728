"""Request bodies in, model inputs out; predictions in, response bodies out.

The entry points of the payload codecs, one per protocol:

* :func:`decode_oip` / :func:`encode_oip`: Open Inference Protocol v2 REST, with the
  binary tensor data extension (:mod:`.oip`);
* :func:`decode_invocations` / :func:`encode_invocations`: MLflow's ``/invocations``
  JSON layouts and CSV (:mod:`.invocations`).

Both reduce a body to rows or columns that :class:`~.tables.InputBuilder` checks
against the signature and turns into the model input. A client mistake raises
:class:`RequestError` (400 malformed, 415 media type, 422 wrong column, type, value or
shape) whose message names the field; nothing a client sends reaches a 500.
"""

from __future__ import annotations

from lockstep.serving.invocations import InvocationsRequest
from lockstep.serving.invocations import decode as decode_invocations
from lockstep.serving.invocations import encode as encode_invocations
from lockstep.serving.oip import OipRequest
from lockstep.serving.oip import decode as decode_oip
from lockstep.serving.oip import encode as encode_oip
from lockstep.serving.tables import InputBuilder, ModelInput, RequestError

__all__ = [
    "InputBuilder",
    "InvocationsRequest",
    "ModelInput",
    "OipRequest",
    "RequestError",
    "decode_invocations",
    "decode_oip",
    "encode_invocations",
    "encode_oip",
]
