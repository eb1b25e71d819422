-- Apply: after the deploy. The version before 0014 lists a tenant's events through this index, and without it
-- would read the tenant's whole history for each page; `npm run setup` applies this file once the new version
-- is deployed. With it gone an event is one row written, not two.
DROP INDEX `events_tenant_seq`;
