#!/usr/bin/env bash
# deploy/k8s/configmaps.sh [NAMESPACE]: (re)creates the ConfigMaps of the policies and the
# message templates from config/, idempotently (kubectl apply). Run from anywhere; rerun after
# editing a policy or a template, then `kubectl rollout restart deployment -l app.kubernetes.io/part-of=dunning`.
# A tenant's own templates (config/templates/<tenant>/) become dunning-templates-<tenant>;
# mount each at /etc/dunning/templates/<tenant> next to the default one.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NS=()
[ $# -gt 0 ] && NS=(--namespace "$1")
apply() { kubectl "${NS[@]}" apply -f -; }
kubectl "${NS[@]}" create configmap dunning-policies --from-file="$ROOT/config/policies" \
    --dry-run=client -o yaml | apply
kubectl "${NS[@]}" create configmap dunning-templates-default --from-file="$ROOT/config/templates/default" \
    --dry-run=client -o yaml | apply
