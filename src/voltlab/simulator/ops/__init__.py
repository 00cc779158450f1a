"""What a station does, by concern. The Station class composes these; each REST command
and each CSMS message reaches the station through the same methods (one way in)."""
