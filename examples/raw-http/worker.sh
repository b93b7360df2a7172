#!/usr/bin/env bash
# A Pipelogiq worker in bash: bootstrap, pull, ack, heartbeat, shutdown.
set -euo pipefail
API="${PIPELOGIQ_URL:-http://127.0.0.1:8081}"
KEY="${PIPELOGIQ_API_KEY:?set PIPELOGIQ_API_KEY to a key from pipelogiq create-app}"
JOBS="${MAX_JOBS:-0}"  # stop after this many jobs; 0 runs until Ctrl-C

call() {  # call PATH JSON: POST to the API, print the answer, fail on an error status
    curl -sS --fail-with-body -X POST "$API$1" -H "X-API-Key: $KEY"         -H 'Content-Type: application/json' -d "$2"
}

HELLO='{"workerName": "bash-echo", "handlers": ["shell.echo"]}'
WORKER=$(call /workers/bootstrap "$HELLO" | jq -r .workerId)
echo "registered as $WORKER"
trap 'call /workers/shutdown "{\"workerId\": \"$WORKER\"}" > /dev/null; exit' INT TERM

done=0
while [ "$JOBS" = 0 ] || [ "$done" -lt "$JOBS" ]; do
    # Long-poll for up to 10 jobs, for up to 20 s.
    jobs=$(call /jobs/pull "{\"handlers\": [\"shell.echo\"], \"maxJobs\": 10,
        \"waitSeconds\": 20, \"workerId\": \"$WORKER\"}" | jq -c '.jobs')
    count=$(jq length <<< "$jobs")
    if [ "$count" -gt 0 ]; then
        # The work: echo each input back, with a log line. Then ack the batch at once.
        results=$(jq -c '[.[] | {jobId, status: "completed", output: .input,
            logs: [{level: "info", message: "echoed by bash"}]}]' <<< "$jobs")
        call /jobs/ack "{\"results\": $results}" | jq -c .
        done=$((done + count))
    fi
    # Keep the leases of anything still running (nothing, here) and hear about cancellations.
    call /workers/heartbeat "{\"workerId\": \"$WORKER\"}" > /dev/null
done
call /workers/shutdown "{\"workerId\": \"$WORKER\"}" > /dev/null
echo "done: $done jobs"
