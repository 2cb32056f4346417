-- 0004: hub ids merged into another. A record can get two hub ids: one
-- minted when a source first saw it referenced by its native key (an
-- invoice's sale), one it already had (the CRM order the sink wrote as
-- that sale). When a sink learns they are the same (the target answers
-- with an external id already linked to the other hub id, and that hub id
-- is known to no other system), the links move to one hub id and the other
-- becomes an alias here, so records already published under the alias
-- still resolve.
CREATE TABLE hub_aliases (
    entity     TEXT NOT NULL,
    alias      TEXT NOT NULL,
    hub_id     TEXT NOT NULL,
    created_at {{TIME}} NOT NULL,
    PRIMARY KEY (entity, alias)
);
CREATE INDEX hub_aliases_hub ON hub_aliases (entity, hub_id);
