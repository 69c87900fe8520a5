"""Drives `nightshift mcp` through the official Python MCP SDK, as an assistant would.

Usage: client.py NIGHTSHIFT STATE WORKSPACE PIPELINES POLICY OUT.json

Initializes, lists tools and pipelines, submits a pipeline and polls its status and logs
until it finishes, reads its report as a tool result and as a resource, cancels a long
task (watching its report resource for the update), calls a plugin as a tool (with
progress), checks that a pipeline needing more than the policy is refused, sends
malformed and oversized requests, and measures round trips. Every check that fails
raises; OUT.json receives the ids and reports the Rust test compares.
"""

import json
import statistics
import sys
import time

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage

ROUNDS = 50


class Raw:
    """A message written to the server as it is: not JSON, or far too large."""

    def __init__(self, text):
        self.text = text

    def model_dump_json(self, **_):
        return self.text


def check(condition, what):
    if not condition:
        raise AssertionError(what)


async def tee(source, sink, seen):
    """Forwards the server's messages to the session, keeping a copy of errors without an id
    (answers to lines that were no request), which the session has no request for."""
    async with sink:
        async for item in source:
            message = getattr(getattr(item, "message", None), "model_dump", None)
            data = message(by_alias=True, exclude_none=True) if message else {}
            if "error" in data and data.get("id") is None:
                seen.append(data)
                continue
            await sink.send(item)


async def tool(session, name, arguments=None, **kwargs):
    result = await session.call_tool(name, arguments or {}, **kwargs)
    check(not result.is_error, f"{name} failed: {result.content}")
    check(result.structured_content is not None, f"{name} has no structured content")
    check(result.content and result.content[0].type == "text", f"{name} has no text")
    return result.structured_content


async def wait_for(session, task_id, seen_events):
    cursor = 0
    for _ in range(600):
        status = await tool(session, "task_status", {"task_id": task_id})
        logs = await tool(session, "task_logs", {"task_id": task_id, "cursor": cursor})
        for event in logs["events"]:
            check(event["seq"] > cursor, "task_logs returned an event before its cursor")
            seen_events.append(event)
        cursor = logs["cursor"]
        if logs["finished"] and status["status"] not in ("queued", "running"):
            return status
        await anyio.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


async def expect_error(session, what, call):
    try:
        result = await call()
    except MCPError as error:
        return str(error)
    check(result.is_error, f"{what}: expected an error, got {result}")
    return result.content[0].text


async def main(nightshift, state, workspace, pipelines, policy, out):
    server = StdioServerParameters(
        command=nightshift,
        args=["mcp", "--state", state, "--pipelines", pipelines, "--policy", policy,
              "--workspace", workspace, "--worker", "--max-request", "64KiB"],
        cwd=workspace,
    )
    updated = []
    stray_errors = []

    async def on_message(message):
        root = getattr(message, "root", message)
        if type(root).__name__ == "ResourceUpdatedNotification":
            updated.append(root.params.uri)

    async with stdio_client(server) as (read, write):
        send, receive = anyio.create_memory_object_stream(100)
        async with anyio.create_task_group() as group:
            group.start_soon(tee, read, send, stray_errors)
            async with ClientSession(receive, write, message_handler=on_message) as session:
                info = await session.initialize()
                check(info.server_info.name == "nightshift", f"server info {info.server_info}")

                tools = {t.name: t for t in (await session.list_tools()).tools}
                for name in ("list_pipelines", "submit_task", "task_status", "task_logs",
                             "task_report", "cancel_task", "plugin_file-stats"):
                    check(name in tools, f"tool {name} missing from {sorted(tools)}")
                    check(tools[name].output_schema, f"tool {name} has no output schema")
                stats_params = tools["plugin_file-stats"].input_schema["properties"]["params"]
                check(set(stats_params.get("properties", {})) ==
                      {"paths", "pattern", "exclude", "max_matches"},
                      f"plugin_file-stats takes the params the plugin declares: {stats_params}")
                submit_schema = tools["submit_task"].input_schema
                check(set(submit_schema["properties"]) == {"pipeline", "params", "idempotency_key"},
                      f"submit_task schema {submit_schema}")

                listed = await tool(session, "list_pipelines")
                by_name = {p["name"]: p for p in listed["pipelines"]}
                check(by_name["audit"]["allowed"], f"audit: {by_name['audit']}")
                check(by_name["audit"]["params"] == {"pattern": "TODO"}, f"{by_name['audit']}")
                check(not by_name["greedy"]["allowed"], f"greedy: {by_name['greedy']}")

                # Submit, then poll status and logs (with the cursor) until it finishes.
                started = time.monotonic()
                submitted = await tool(session, "submit_task", {
                    "pipeline": "audit", "params": {"pattern": "TODO"}, "idempotency_key": "mcp-1"})
                check(time.monotonic() - started < 2, "submit_task waited for the task")
                task_id = submitted["task_id"]
                again = await tool(session, "submit_task", {
                    "pipeline": "audit", "params": {"pattern": "TODO"}, "idempotency_key": "mcp-1"})
                check(again["task_id"] == task_id and again["existing"], f"idempotency: {again}")
                events = []
                final = await wait_for(session, task_id, events)
                check(final["status"] == "succeeded", f"audit ended {final}")
                check(len({e["seq"] for e in events}) == len(events), "an event was read twice")
                check(any(e["kind"] == "attempt" for e in events), f"no attempt events: {events}")

                markdown = await tool(session, "task_report", {"task_id": task_id})
                check(markdown["status"] == "succeeded" and task_id in markdown["report"],
                      "markdown report")
                report = await tool(session, "task_report", {"task_id": task_id, "format": "json"})
                check(report["report"]["task_id"] == task_id, "json report")
                resource = await session.read_resource(f"nightshift://task/{task_id}/report")
                check(resource.contents[0].text == markdown["report"],
                      "the report resource differs from the report tool")
                resources = await session.list_resources()
                check(any(r.uri == f"nightshift://task/{task_id}/report" for r in resources.resources),
                      "the task's report is not listed as a resource")

                # A long task: subscribe to its report, cancel it, hear that it changed.
                long = await tool(session, "submit_task", {"pipeline": "long"})
                long_uri = f"nightshift://task/{long['task_id']}/report"
                await session.subscribe_resource(long_uri)
                for _ in range(400):
                    status = await tool(session, "task_status", {"task_id": long["task_id"]})
                    if status["status"] == "running":
                        break
                    await anyio.sleep(0.05)
                cancelled = await tool(session, "cancel_task", {"task_id": long["task_id"]})
                check(cancelled["status"] == "cancelled", f"cancel: {cancelled}")
                for _ in range(100):
                    if long_uri in updated:
                        break
                    await anyio.sleep(0.05)
                check(long_uri in updated, f"no resources/updated for {long_uri}: {updated}")

                # A plugin as a tool, with progress.
                progress = []

                async def on_progress(done, total, message):
                    progress.append((done, total, message))

                stats = await tool(session, "plugin_file-stats",
                                   {"params": {"paths": ["src"], "pattern": "TODO"}},
                                   progress_callback=on_progress)
                check(stats["status"] == "succeeded", f"plugin tool: {stats}")
                check(stats["data"]["files"] == 2, f"plugin data: {stats['data']}")
                check(progress, "no progress notification during the plugin tool")
                recorded = await tool(session, "task_status", {"task_id": stats["task_id"]})
                check(recorded["tasks"][0]["steps"][0]["status"] == "succeeded",
                      f"the plugin call is not in the journal: {recorded}")

                # Refusals and bad input: errors, and the session goes on.
                refused = await expect_error(session, "greedy", lambda: session.call_tool(
                    "submit_task", {"pipeline": "greedy"}))
                check("network `api.example.com`" in refused and "write `secrets`" in refused,
                      f"refusal does not name what is missing: {refused}")
                for name in ("../audit", "audit.toml", "/etc/passwd", "x.wasm"):
                    message = await expect_error(session, name, lambda: session.call_tool(
                        "submit_task", {"pipeline": name}))
                    check("not a pipeline name" in message, f"{name}: {message}")
                await expect_error(session, "unknown tool", lambda: session.call_tool("nope", {}))
                await expect_error(session, "schema", lambda: session.call_tool(
                    "task_logs", {"task_id": 7, "cursor": "x"}))
                unknown = await expect_error(session, "unknown task", lambda: session.call_tool(
                    "task_status", {"task_id": "ffffffffffff"}))
                check("ffffffffffff" in unknown, f"unknown task: {unknown}")
                await expect_error(session, "params type", lambda: session.call_tool(
                    "plugin_file-stats", {"params": "not an object"}))

                await write.send(SessionMessage(message=Raw("{this is not json")))
                await write.send(SessionMessage(message=Raw(json.dumps(
                    {"jsonrpc": "2.0", "id": 99, "method": "tools/call",
                     "params": {"name": "task_status", "arguments": {"x": "y" * 100_000}}}))))
                for _ in range(100):
                    if len(stray_errors) >= 2:
                        break
                    await anyio.sleep(0.02)
                codes = sorted(e["error"]["code"] for e in stray_errors)
                check(codes == [-32700, -32600], f"malformed/oversized answers: {stray_errors}")
                check("limit" in stray_errors[-1]["error"]["message"]
                      or "limit" in stray_errors[0]["error"]["message"], f"{stray_errors}")
                still = await tool(session, "task_status", {"task_id": task_id})
                check(still["status"] == "succeeded", "the session did not go on")

                # Round trips, in this run.
                def median_ms(samples):
                    return statistics.median(samples) * 1000

                status_times = []
                for _ in range(ROUNDS):
                    t = time.perf_counter()
                    await session.call_tool("task_status", {"task_id": task_id})
                    status_times.append(time.perf_counter() - t)
                plugin_times = []
                for _ in range(ROUNDS):
                    t = time.perf_counter()
                    result = await session.call_tool(
                        "plugin_file-stats", {"params": {"paths": ["src"]}})
                    plugin_times.append(time.perf_counter() - t)
                    check(not result.is_error, f"plugin round trip: {result.content}")
                print(f"ROUNDTRIP task_status median {median_ms(status_times):.2f} ms "
                      f"over {ROUNDS} calls")
                print(f"ROUNDTRIP plugin_file-stats median {median_ms(plugin_times):.2f} ms "
                      f"over {ROUNDS} calls")

                with open(out, "w") as f:
                    json.dump({"task_id": task_id, "report": report["report"],
                               "long_task_id": long["task_id"]}, f)
            group.cancel_scope.cancel()
    print("MCP CLIENT OK")


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:7])
