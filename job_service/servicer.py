"""JobService over gRPC: convert the request, call the domain, convert the result."""

from __future__ import annotations

from collections.abc import AsyncIterator

from google.protobuf import empty_pb2

from job_service import convert
from job_service.admin import AdminJobs
from job_service.jobs import Jobs
from job_service.webhooks import Webhooks
from videojobs.context import current_admin, current_caller
from videojobs.interceptors import Context
from videojobs.v1 import job_service_pb2, job_service_pb2_grpc


class JobServicer(job_service_pb2_grpc.JobServiceServicer):
    def __init__(self, jobs: Jobs, webhooks: Webhooks, admin: AdminJobs) -> None:
        self._jobs = jobs
        self._webhooks = webhooks
        self._admin = admin

    async def CreateJob(
        self, request: job_service_pb2.CreateJobRequest, context: Context
    ) -> job_service_pb2.CreateJobResponse:
        result = await self._jobs.create(
            current_caller(),
            request.client_request_id,
            convert.spec_from_proto(request.spec),
            allow_duplicate=request.allow_duplicate,
            webhook_url=request.webhook_url,
        )
        return convert.create_outcome_to_proto(result)

    async def GetJob(self, request: job_service_pb2.GetJobRequest, context: Context) -> job_service_pb2.Job:
        return convert.job_to_proto(await self._jobs.get(current_caller(), request.id))

    async def ListJobs(
        self, request: job_service_pb2.ListJobsRequest, context: Context
    ) -> job_service_pb2.ListJobsResponse:
        caller = current_caller()
        page = await self._jobs.list(
            caller, request.page_size, request.page_token, convert.states_from_proto(request.states)
        )
        return job_service_pb2.ListJobsResponse(
            jobs=[convert.job_to_proto(job) for job in page.jobs], next_page_token=page.next_page_token
        )

    async def CancelJob(
        self, request: job_service_pb2.CancelJobRequest, context: Context
    ) -> job_service_pb2.Job:
        return convert.job_to_proto(await self._jobs.cancel(current_caller(), request.id))

    async def RetryJob(
        self, request: job_service_pb2.RetryJobRequest, context: Context
    ) -> job_service_pb2.Job:
        return convert.job_to_proto(await self._jobs.retry(current_caller(), request.id))

    async def DeleteJob(
        self, request: job_service_pb2.DeleteJobRequest, context: Context
    ) -> job_service_pb2.DeleteJobResponse:
        deleted = await self._jobs.delete(current_caller(), request.id)
        return job_service_pb2.DeleteJobResponse(id=request.id, deleted_uris=list(deleted))

    async def WatchJob(
        self, request: job_service_pb2.WatchJobRequest, context: Context
    ) -> AsyncIterator[job_service_pb2.JobEvent]:
        async for event in self._jobs.watch(current_caller(), request.id, request.after_sequence):
            yield convert.event_to_proto(event)

    async def ReportProviderEvent(
        self, request: job_service_pb2.ReportProviderEventRequest, context: Context
    ) -> empty_pb2.Empty:
        status = convert.provider_status_from_proto(request.status)
        await self._jobs.report_provider_event(request.provider, request.provider_job_id, status)
        return empty_pb2.Empty()

    async def GetQuota(
        self, request: job_service_pb2.GetQuotaRequest, context: Context
    ) -> job_service_pb2.Quota:
        return convert.quota_to_proto(await self._jobs.quota(current_caller().user_id))

    async def ResetQuota(
        self, request: job_service_pb2.ResetQuotaRequest, context: Context
    ) -> job_service_pb2.Quota:
        current_admin()
        return convert.quota_to_proto(await self._jobs.reset_quota(request.user_id))

    # -- admin ---------------------------------------------------------------------------------------------

    async def AdminListJobs(
        self, request: job_service_pb2.AdminListJobsRequest, context: Context
    ) -> job_service_pb2.ListJobsResponse:
        current_admin()
        page = await self._admin.list(
            convert.job_filter_from_proto(request), request.page_size, request.page_token
        )
        return job_service_pb2.ListJobsResponse(
            jobs=[convert.job_to_proto(job) for job in page.jobs], next_page_token=page.next_page_token
        )

    async def AdminGetJob(
        self, request: job_service_pb2.GetJobRequest, context: Context
    ) -> job_service_pb2.Job:
        current_admin()
        return convert.job_to_proto(await self._admin.get(request.id))

    async def AdminCancelJob(
        self, request: job_service_pb2.CancelJobRequest, context: Context
    ) -> job_service_pb2.Job:
        current_admin()
        return convert.job_to_proto(await self._admin.cancel(request.id))

    async def AdminRetryJob(
        self, request: job_service_pb2.RetryJobRequest, context: Context
    ) -> job_service_pb2.Job:
        current_admin()
        return convert.job_to_proto(await self._admin.retry(request.id))

    async def GetQueueStats(
        self, request: job_service_pb2.GetQueueStatsRequest, context: Context
    ) -> job_service_pb2.QueueStats:
        current_admin()
        return convert.queue_stats_to_proto(await self._admin.queue_stats())

    async def AdminGetQuota(
        self, request: job_service_pb2.AdminGetQuotaRequest, context: Context
    ) -> job_service_pb2.Quota:
        current_admin()
        return convert.quota_to_proto(await self._admin.quota(request.user_id))

    async def CreateApiKey(
        self, request: job_service_pb2.CreateApiKeyRequest, context: Context
    ) -> job_service_pb2.CreateApiKeyResponse:
        current_admin()
        key, secret = await self._admin.create_key(request.user_id, admin=request.admin)
        return job_service_pb2.CreateApiKeyResponse(key=convert.api_key_to_proto(key), api_key=secret)

    async def ListApiKeys(
        self, request: job_service_pb2.ListApiKeysRequest, context: Context
    ) -> job_service_pb2.ListApiKeysResponse:
        current_admin()
        page = await self._admin.list_keys(
            request.user_id, request.include_revoked, request.page_size, request.page_token
        )
        return job_service_pb2.ListApiKeysResponse(
            keys=[convert.api_key_to_proto(key) for key in page.keys], next_page_token=page.next_page_token
        )

    async def RevokeApiKey(
        self, request: job_service_pb2.RevokeApiKeyRequest, context: Context
    ) -> job_service_pb2.ApiKey:
        current_admin()
        return convert.api_key_to_proto(await self._admin.revoke_key(request.key_id))

    async def AuthenticateApiKey(
        self, request: job_service_pb2.AuthenticateApiKeyRequest, context: Context
    ) -> job_service_pb2.AuthenticateApiKeyResponse:
        caller = await self._jobs.authenticate_api_key(request.api_key)
        return job_service_pb2.AuthenticateApiKeyResponse(user_id=caller.user_id, role=caller.role)

    async def CreateWebhookEndpoint(
        self, request: job_service_pb2.CreateWebhookEndpointRequest, context: Context
    ) -> job_service_pb2.WebhookEndpointWithSecret:
        endpoint, secret = await self._webhooks.create(
            current_caller(), request.user_id, request.url, request.event_types, request.description
        )
        return job_service_pb2.WebhookEndpointWithSecret(
            endpoint=convert.webhook_endpoint_to_proto(endpoint), secret=secret
        )

    async def GetWebhookSigningSecret(
        self, request: job_service_pb2.GetWebhookSigningSecretRequest, context: Context
    ) -> job_service_pb2.WebhookSigningSecret:
        secret = await self._webhooks.signing_secret(current_caller(), request.user_id)
        return job_service_pb2.WebhookSigningSecret(secret=secret)

    async def ListWebhookEndpoints(
        self, request: job_service_pb2.ListWebhookEndpointsRequest, context: Context
    ) -> job_service_pb2.ListWebhookEndpointsResponse:
        endpoints = await self._webhooks.endpoints(current_caller(), request.user_id)
        return job_service_pb2.ListWebhookEndpointsResponse(
            endpoints=[convert.webhook_endpoint_to_proto(endpoint) for endpoint in endpoints]
        )

    async def GetWebhookEndpoint(
        self, request: job_service_pb2.GetWebhookEndpointRequest, context: Context
    ) -> job_service_pb2.WebhookEndpoint:
        endpoint = await self._webhooks.get(current_caller(), request.user_id, request.id)
        return convert.webhook_endpoint_to_proto(endpoint)

    async def UpdateWebhookEndpoint(
        self, request: job_service_pb2.UpdateWebhookEndpointRequest, context: Context
    ) -> job_service_pb2.WebhookEndpoint:
        patch = convert.webhook_patch_from_proto(request)
        endpoint = await self._webhooks.update(current_caller(), request.user_id, request.id, patch)
        return convert.webhook_endpoint_to_proto(endpoint)

    async def DeleteWebhookEndpoint(
        self, request: job_service_pb2.DeleteWebhookEndpointRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._webhooks.delete(current_caller(), request.user_id, request.id)
        return empty_pb2.Empty()

    async def RotateWebhookSecret(
        self, request: job_service_pb2.RotateWebhookSecretRequest, context: Context
    ) -> job_service_pb2.WebhookEndpointWithSecret:
        endpoint, secret = await self._webhooks.rotate_secret(current_caller(), request.user_id, request.id)
        return job_service_pb2.WebhookEndpointWithSecret(
            endpoint=convert.webhook_endpoint_to_proto(endpoint), secret=secret
        )

    async def ListWebhookDeliveries(
        self, request: job_service_pb2.ListWebhookDeliveriesRequest, context: Context
    ) -> job_service_pb2.ListWebhookDeliveriesResponse:
        deliveries = await self._webhooks.deliveries(
            current_caller(),
            request.user_id,
            endpoint_id=request.endpoint_id,
            job_id=request.job_id,
            page_size=request.page_size,
        )
        return job_service_pb2.ListWebhookDeliveriesResponse(
            deliveries=[convert.webhook_delivery_to_proto(delivery) for delivery in deliveries]
        )

    async def RedeliverWebhook(
        self, request: job_service_pb2.RedeliverWebhookRequest, context: Context
    ) -> job_service_pb2.WebhookDelivery:
        delivery = await self._webhooks.redeliver(current_caller(), request.user_id, request.id)
        return convert.webhook_delivery_to_proto(delivery)
