-- Argo CD health check for gatepass.dev/AccessRequest (Lua 5.1, as Argo CD runs it).
-- Install: the value of the key resource.customizations.health.gatepass.dev_AccessRequest in argocd-cm.
-- It reads the conditions the operator writes (docs/concepts.md): Healthy while the access is granted,
-- Degraded once the request ended without access now (Denied, Expired, Revoked), Progressing otherwise
-- (Pending, or Approved and waiting for its start or for a binding that cannot be made yet).
local health = {status = "Progressing", message = "Waiting for the operator to read the request"}
if obj.status == nil or obj.status.conditions == nil then
  return health
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  return health
end
local found = {}
for _, condition in ipairs(obj.status.conditions) do
  found[condition.type] = condition
end
for _, pair in ipairs({{"Ready", "Healthy"}, {"Stalled", "Degraded"}, {"Reconciling", "Progressing"}}) do
  local condition = found[pair[1]]
  if condition ~= nil and condition.status == "True" then
    return {status = pair[2], message = (obj.status.state or "") .. ": " .. (condition.message or "")}
  end
end
return health
