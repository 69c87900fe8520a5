"""word-count: a Nightshift plugin written in Python, built with componentize-py.

It implements the `plugin` world of ../../plugin-sdk/wit/plugin.wit. Params (JSON text):
{"path": "<dir>"} (default "."). It walks that directory (the step must grant read access
to it), counts the whitespace-separated words of every *.md and *.txt file, and returns
data {"files": M, "words": N}. Invalid params JSON is a fatal error.

Build: bash build.sh OUT.wasm
"""

import json
import os

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import Check, StepError_Fatal, StepInput, StepOutput

SUFFIXES = (".md", ".txt")


class WitWorld(wit_world.WitWorld):
    def run(self, input: StepInput) -> StepOutput:
        try:
            params = json.loads(input.params or "{}")
            root = params.get("path", ".") if isinstance(params, dict) else None
            if not isinstance(root, str):
                raise ValueError('"path" must be a string')
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            raise Err(StepError_Fatal(f"invalid params: {e}"))

        files = words = 0
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(SUFFIXES):
                    with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                        words += len(f.read().split())
                    files += 1

        host.log(host.Level.INFO, f"counted {words} words in {files} files under {root}")
        host.note(f"word-count read {files} files under {root}")
        return StepOutput(
            summary=f"{words} words in {files} files",
            data=json.dumps({"files": files, "words": words}),
            checks=[Check(name="found files", passed=files > 0, detail=f"{files} *.md/*.txt files under {root}")],
            caveats=[],
        )
