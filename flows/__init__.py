"""One Prefect flow per documented job."""
