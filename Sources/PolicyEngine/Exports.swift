// The policy model (documents, policies, endpoints, the compiler) is part of this module's API:
// an embedder imports PolicyEngine alone.
@_exported import PolicyModel
