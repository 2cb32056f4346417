-- 0005: what a system holds of a two-way record, field by field.
--
-- fields is a JSON object of short hashes of each canonical field's value
-- as the system last held it (read by its source or written by its sink).
-- Against it a source tells the fields a system changed from the fields it
-- merely still holds, so a change of one field does not re-assert every
-- other field at the new version. Empty for one-way entities.
ALTER TABLE xref ADD COLUMN fields TEXT NOT NULL DEFAULT '';

-- seen holds, per system, the newest version of the record the hub's merge
-- has read from it (JSON). Saved with the merge's revision check and
-- carried on the envelope, it is the version a sink bases its write to
-- that system on: always in step with the merged data, unlike the xref
-- stamp, which a source records only after publishing.
ALTER TABLE records ADD COLUMN seen TEXT NOT NULL DEFAULT '';
