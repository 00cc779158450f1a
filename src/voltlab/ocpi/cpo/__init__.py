"""voltlab's simulated OCPI CPO: pure decision logic used by the CPO bundle."""
