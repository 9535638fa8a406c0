"""Writes of the booking domain, split by concern: booking (hold, pay, expiry), cancel
(cancellation and refunds), reschedule, attendance; common holds the lock order and errors.
Callers import from here."""

from bookings.services.attendance import appointment_check_in, appointment_mark_attendance, no_shows_mark
from bookings.services.booking import (
    Checkout,
    CustomerDetails,
    SlotGone,
    Terms,
    TermsChanged,
    appointment_book_for_customer,
    appointment_checkout,
    appointment_follow_payment,
    appointment_hold,
    appointment_mark_paid_at_venue,
    holds_expire,
    local_dates_refile,
    payments_settle_stale,
)
from bookings.services.cancel import (
    BulkResult,
    RefundChanged,
    appointment_cancel_by_customer,
    appointment_cancel_by_provider,
    appointments_cancel_bulk,
    refund_for_customer_cancel,
)
from bookings.services.common import BookingNotAllowed, HoldExpired, SlotUnavailable, TryAgain
from bookings.services.reschedule import (
    appointment_move_by_provider,
    reschedule_accept,
    reschedule_decline,
    reschedule_request,
    reschedule_withdraw,
    reschedules_expire,
)

__all__ = [
    "BookingNotAllowed",
    "BulkResult",
    "Checkout",
    "CustomerDetails",
    "HoldExpired",
    "RefundChanged",
    "SlotGone",
    "SlotUnavailable",
    "Terms",
    "TermsChanged",
    "TryAgain",
    "appointment_book_for_customer",
    "appointment_cancel_by_customer",
    "appointment_cancel_by_provider",
    "appointment_check_in",
    "appointment_checkout",
    "appointment_follow_payment",
    "appointment_hold",
    "appointment_mark_attendance",
    "appointment_mark_paid_at_venue",
    "appointment_move_by_provider",
    "appointments_cancel_bulk",
    "holds_expire",
    "local_dates_refile",
    "no_shows_mark",
    "payments_settle_stale",
    "refund_for_customer_cancel",
    "reschedule_accept",
    "reschedule_decline",
    "reschedule_request",
    "reschedule_withdraw",
    "reschedules_expire",
]
