"""Background work: the queue the service sees, and the engines that run jobs."""

from smartnotes.jobs.pool import Handler, JobQueue, WorkerPool

__all__ = ["Handler", "JobQueue", "WorkerPool"]
