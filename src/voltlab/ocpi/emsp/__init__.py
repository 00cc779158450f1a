"""voltlab's simulated OCPI eMSP: its tokens, their pushes, and its authorize answer."""
