#!/usr/bin/env bash
# tests/on-stack.sh SCRIPT [ARGS...]: runs a stack test against the stack ctest gave it.
# Under `ctest --resource-spec-file` (scripts/test lists the stacks it started, each an id of
# the resource "stack"), ctest sets CTEST_RESOURCE_GROUP_0_STACK to "id:ID,slots:1": the
# stack "main" is $DUNNING_RUN_DIR (default .run), any other ID is $DUNNING_RUN_DIR-ID.
# Without a spec file the test runs against $DUNNING_RUN_DIR as it always did.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${CTEST_RESOURCE_GROUP_0_STACK:-}" ]; then
    id=${CTEST_RESOURCE_GROUP_0_STACK#id:}
    id=${id%%,*}
    base=${DUNNING_RUN_DIR:-$ROOT/.run}
    if [ "$id" = main ]; then
        export DUNNING_RUN_DIR=$base
    else
        export DUNNING_RUN_DIR=$base-$id
    fi
fi
exec bash "$@"
