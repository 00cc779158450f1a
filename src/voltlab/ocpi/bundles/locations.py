"""A CPO bundle's OCPI locations through the management API: bulk create (a job, from raw
locations or location templates), list, get, patch, delete.

The API's way in; the parts: ``location_records`` (list, get, patch and delete the stored
locations), ``location_plans`` (checking a bulk create and planning its locations and
chargers) and ``location_jobs`` (the bulk-create job: started, run, its status).
"""

from __future__ import annotations

from voltlab.ocpi.bundles.location_jobs import create_job, job_status
from voltlab.ocpi.bundles.location_records import delete_location, get, list_page, update

__all__ = ["create_job", "delete_location", "get", "job_status", "list_page", "update"]
