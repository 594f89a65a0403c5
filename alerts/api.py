"""The alert endpoints of the operator dashboard (staff token or staff session)."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.actions import acknowledge_alerts
from alerts.models import Alert, AlertStatus, open_first
from alerts.serializers import AlertFilterSerializer, AlertSerializer, ErrorSerializer

TAG = "alerts"


@extend_schema(
    tags=[TAG],
    summary="Alerts, open first",
    description=(
        "Open alerts first, then acknowledged, then resolved; critical before warning; the "
        "most recently seen first. Filter with `status` and `code` (comma lists)."
    ),
    parameters=[AlertFilterSerializer],
)
class AlertListView(generics.ListAPIView):
    serializer_class = AlertSerializer
    # A plain list, as the contract shows it: alerts stay few (one open per condition).
    pagination_class = None

    def get_queryset(self):
        filters = AlertFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        alerts = Alert.objects.all()
        if statuses := filters.validated_data.get("status"):
            alerts = alerts.filter(status__in=statuses)
        if codes := filters.validated_data.get("code"):
            alerts = alerts.filter(code__in=codes)
        return open_first(alerts)


@extend_schema(
    tags=[TAG],
    summary="Acknowledge an alert",
    description=(
        "Marks an open alert acknowledged by the caller, now. Acknowledging it again changes "
        "nothing; a resolved alert cannot be acknowledged (409). It escalating to critical "
        "re-opens it."
    ),
    request=None,
    responses={200: AlertSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
)
class AlertAcknowledgeView(APIView):
    def post(self, request: Request, pk: int) -> Response:
        with transaction.atomic():
            alert = Alert.objects.select_for_update().filter(pk=pk).first()
            if alert is None:
                return Response({"error": "no such alert"}, status=status.HTTP_404_NOT_FOUND)
            if alert.status == AlertStatus.RESOLVED:
                return Response({"error": "the alert is resolved"}, status=status.HTTP_409_CONFLICT)
            acknowledge_alerts(Alert.objects.filter(pk=pk), request.user.get_username())
            alert.refresh_from_db()
        return Response(AlertSerializer(alert).data)
