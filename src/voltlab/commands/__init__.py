"""REST commands -> the fleet: target resolution, command records, fan-out."""
