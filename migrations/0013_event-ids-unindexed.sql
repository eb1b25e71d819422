-- Apply: after the deploy. The version before 0012 looks events up by id through this index, and without it
-- would read a tenant's whole history for each lookup; `npm run setup` applies this file once the new version
-- is deployed. With it gone, an event whose id Edgehook generated writes one index entry fewer, which retention
-- no longer deletes either.
DROP INDEX `events_tenant_id_unique`;