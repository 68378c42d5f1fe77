"""API Gateway Lambda authorizer: the CRM's JWT in, the caller's org id out (as authorizer context)."""
