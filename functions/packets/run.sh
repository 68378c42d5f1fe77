#!/bin/sh
# Lambda entry point of the streaming deployment (template.yaml: Handler run.sh). The Lambda Web
# Adapter layer (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) runs this script, waits until GET /healthz
# answers on $PORT, then forwards each API Gateway request to it and streams the response back
# (AWS_LWA_INVOKE_MODE=response_stream). The same app is the buffered deployment's Mangum handler.
# Imports as Lambda's own Python runtime would see them: the function's code root, then the shared
# layer (/opt/python: package `shared` and the third-party packages, uvicorn among them).
# Loopback only: the adapter in the same sandbox is its one client, and the org it reads from the
# adapter's x-amzn-request-context header (shared/http.py) must come from nobody else.
PYTHONPATH="${LAMBDA_TASK_ROOT:-.}:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec python -m uvicorn packets.app:app --host 127.0.0.1 --port "${PORT:-8080}" --no-access-log
