"""The client side of the Discreet service: the HTTP client (sync and asyncio), resumable remote
batches (``discreet scan --remote``) and the status reader (``discreet status``).

Nothing here imports FastAPI or ``discreet.service``: a client needs only the base install.

    from discreet.client import Client
    with Client("http://localhost:8000", api_key="...") as client:
        for item in client.scan(["photo.jpg"], scenes=["faces"]):
            print(item.data_id, item.result.faces if item.ok else item.error.code)
"""

from discreet.client.http import (
    AsyncClient,
    Client,
    ErrorInfo,
    ImageResult,
    ImageSource,
    ModerationApi,
    Task,
    verify_signature,
)
from discreet.client.remote_batch import RemoteBatch, read_state
from discreet.client.status import read_status
from discreet.errors import ServiceError, SignatureError
from discreet.states import FINISHED, CallbackState, TaskStatus

__all__ = [
    "FINISHED", "AsyncClient", "CallbackState", "Client", "ErrorInfo", "ImageResult", "ImageSource", "ModerationApi",
    "RemoteBatch",
    "ServiceError", "SignatureError", "Task", "TaskStatus", "read_state", "read_status", "verify_signature",
]
