from celery import shared_task

from payments.services import refund_execute, refunds_retry_due


@shared_task(acks_late=True)
def refund_execute_task(refund_id: str) -> None:
    refund_execute(refund_id=refund_id)


@shared_task(acks_late=True)
def refunds_retry_due_task() -> int:
    return refunds_retry_due()
