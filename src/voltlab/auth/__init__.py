"""JWT bearer auth and tenant resolution."""

from voltlab.auth.principal import Principal
from voltlab.auth.tokens import AuthError, TokenVerifier, load_verifier, mint_token

__all__ = ["AuthError", "Principal", "TokenVerifier", "load_verifier", "mint_token"]
