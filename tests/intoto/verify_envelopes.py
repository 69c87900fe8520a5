"""Verify exported in-toto attestations with securesystemslib (the reference DSSE implementation).

Usage: python verify_envelopes.py KEY_JSON_FILE ENVELOPE_DIR

KEY_JSON_FILE holds a securesystemslib ed25519 key object
({"keytype","scheme","keyid","keyval":{"public":<hex>}}); every ENVELOPE_DIR/*.json
must be a DSSE envelope signed by it whose payload is an in-toto Statement v1.
Prints "ok <file> <predicateType> <n subjects>" or "FAIL <file>: <reason>" per file;
exits 0 only if at least one envelope was found and all of them verified.
Needs: pip install 'securesystemslib[crypto]'
"""

import hashlib
import json
import sys
from pathlib import Path

from securesystemslib.dsse import Envelope
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import SSlibKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


def load_key(path):
    data = json.loads(Path(path).read_text())
    if (data.get("keytype"), data.get("scheme")) != ("ed25519", "ed25519"):
        raise ValueError("key must have keytype and scheme 'ed25519'")
    public = data.get("keyval", {}).get("public")
    if not isinstance(public, str) or len(public) != 64:
        raise ValueError("keyval.public must be 64 hex chars")
    # securesystemslib's default keyid: sha256 over the canonical JSON of these three fields.
    fields = {"keytype": data["keytype"], "scheme": data["scheme"], "keyval": {"public": public}}
    expected = hashlib.sha256(encode_canonical(fields).encode("utf-8")).hexdigest()
    keyid = data.get("keyid", expected)
    if keyid != expected:
        raise ValueError(f"keyid {keyid} != sha256(canonical key) {expected}")
    # SSlibKey takes the keyid separately; any other key in the dict is kept as "unrecognized".
    return SSlibKey.from_dict(keyid, fields)


def check_statement(payload):
    stmt = json.loads(payload.decode("utf-8"))
    if not isinstance(stmt, dict):
        raise ValueError("payload is not a JSON object")
    if stmt.get("_type") != STATEMENT_TYPE:
        raise ValueError(f"_type is {stmt.get('_type')!r}, want {STATEMENT_TYPE}")
    subjects = stmt.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise ValueError("subject must be a non-empty list")
    for i, subj in enumerate(subjects):
        digest = subj.get("digest") if isinstance(subj, dict) else None
        if not isinstance(digest, dict) or not digest:
            raise ValueError(f"subject[{i}] has no digest")
    ptype = stmt.get("predicateType")
    if not isinstance(ptype, str) or not ptype:
        raise ValueError("predicateType missing")
    if not isinstance(stmt.get("predicate"), dict):
        raise ValueError("predicate missing or not an object")
    return ptype, len(subjects)


def verify_file(path, key):
    data = json.loads(path.read_text())
    if data.get("payloadType") != PAYLOAD_TYPE:
        raise ValueError(f"payloadType is {data.get('payloadType')!r}, want {PAYLOAD_TYPE}")
    envelope = Envelope.from_dict(data)  # base64-decodes payload and each sig
    envelope.verify([key], 1)  # checks the ed25519 sig over the DSSE v1 PAE; raises on failure
    return check_statement(envelope.payload)


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        key = load_key(argv[1])
    except Exception as e:  # noqa: BLE001
        print(f"FAIL {argv[1]}: bad key: {type(e).__name__}: {e}")
        return 1
    files = sorted(Path(argv[2]).glob("*.json"))
    failed = False
    for path in files:
        try:
            ptype, n = verify_file(path, key)
            print(f"ok {path.name} {ptype} {n}")
        except Exception as e:  # noqa: BLE001
            failed = True
            print(f"FAIL {path.name}: {type(e).__name__}: {e}")
    if not files:
        print(f"FAIL {argv[2]}: no *.json envelopes found")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
