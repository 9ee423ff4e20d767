-- Surfacing (notify/surfacing.py): a muted alert notified when its window, silence or flapping ended
-- gets a second decision for the same alert version, named by what ended (`surfaced`; '' for the
-- decision of the alert change itself). Its muting (not muted) replaces the muted decision's on the
-- alert: `seq` orders an alert's decisions (2 * version, + 1 when surfaced).
ALTER TABLE notification_decisions ADD COLUMN surfaced text NOT NULL DEFAULT '';
ALTER TABLE notification_decisions DROP CONSTRAINT notification_decisions_pkey;
ALTER TABLE notification_decisions ADD PRIMARY KEY (alert_id, version, surfaced);

ALTER TABLE alert_muting ADD COLUMN seq bigint;
UPDATE alert_muting SET seq = 2 * version::bigint;
ALTER TABLE alert_muting ALTER COLUMN seq SET NOT NULL;
