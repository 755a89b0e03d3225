extension PostgresRelayStorage {
    /// The server-side append (`Specs/relay-api.md` §7), created by schema version 3: the
    /// chain checks of §4 (the chain rule of `Specs/sync-protocol.md` §7, `ChainRule`, stated
    /// in SQL: `PostgresAppendPropertyTests` compares its decisions with `ChainRule`'s and
    /// with SQLite's) as `ChainCheck` runs them for SQLite (in push order; the first
    /// bundle that fails decides the refusal), then the limits as `SpaceLimitCheck` (spaces,
    /// authors, quota), then the insert, `heads`, `space_usage` and one `NOTIFY` per bundle,
    /// all under the space's advisory lock. Called as one statement, it is one round trip
    /// and one transaction; every statement inside sees what committed before the lock was
    /// granted (a volatile function under READ COMMITTED takes a snapshot per statement).
    ///
    /// The chain check is set-based: each pushed row is looked up in `bundles` by its
    /// `(space, author, seq)`; a row repeating an earlier row of the push is compared with
    /// that row; a new row must follow its author's head as it stands at that row (the
    /// stored head, advanced by the author's earlier new rows of the push). Answers
    /// `outcome, positions, duplicates, author, seq, stored, pushed, used, adding`:
    /// `ok`; `fork` (author, the forked sequence, the stored and the pushed id); `gap`
    /// (author, the needed sequence in `seq`, the pushed one in `used`); `too-many-spaces`;
    /// `too-many-authors` (authors held in `used`, new ones in `adding`); `quota-exceeded`
    /// (bytes held in `used`, bytes added in `adding`).
    static let appendFunction = """
        CREATE OR REPLACE FUNCTION concord_append(
            p_space bytea, p_lock bigint, p_authors bytea[], p_seqs bigint[], p_ids bytea[], p_previous bytea[], p_bytes bytea[],
            p_quota bigint, p_max_authors bigint, p_max_spaces bigint, p_channel text, p_prefix text)
        RETURNS TABLE (outcome text, positions bigint[], ids bytea[], duplicates bigint, author bytea, seq bigint,
                       stored bytea, pushed bytea, used bigint, adding bigint)
        LANGUAGE plpgsql VOLATILE AS $concord$
        #variable_conflict use_column
        DECLARE
            v_kind text; v_author bytea; v_seq bigint; v_stored bytea; v_pushed bytea; v_got bigint;
            v_duplicates bigint; v_new int[]; v_new_authors bigint; v_adding bigint;
            v_used_bytes bigint; v_used_authors bigint; v_spaces bigint; v_positions bigint[]; v_ids bytea[];
        BEGIN
            PERFORM pg_advisory_xact_lock(p_lock);
            WITH p AS (
                SELECT u.a, u.s, u.i, u.v, u.o::int AS o
                FROM unnest(p_authors, p_seqs, p_ids, p_previous) WITH ORDINALITY AS u(a, s, i, v, o)
            ), r AS (
                SELECT p.*, b.id AS sid,
                       first_value(p.i) OVER (PARTITION BY p.a, p.s ORDER BY p.o) AS fid,
                       row_number() OVER (PARTITION BY p.a, p.s ORDER BY p.o) AS rn
                FROM p LEFT JOIN bundles b ON b.space = p_space AND b.author = p.a AND b.seq = p.s
            ), h AS (
                SELECT d.a, hb.seq AS hs, hb.id AS hi
                FROM (SELECT DISTINCT p.a FROM p) d
                CROSS JOIN LATERAL (
                    SELECT seq, id FROM bundles WHERE space = p_space AND author = d.a ORDER BY seq DESC LIMIT 1
                ) hb
            ), n AS (
                SELECT r.*, (r.sid IS NULL AND r.rn = 1) AS fresh, coalesce(h.hs, 0) AS hs,
                       coalesce(h.hi, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) AS hi
                FROM r LEFT JOIN h ON h.a = r.a
            ), w AS (
                SELECT n.*,
                       count(*) FILTER (WHERE n.fresh) OVER (
                           PARTITION BY n.a ORDER BY n.o ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS pend,
                       lag(n.i) OVER (PARTITION BY n.a, n.fresh ORDER BY n.o) AS li
                FROM n
            ), x AS (
                SELECT w.o, w.a, w.s, w.i, w.v, w.sid, w.fid, w.rn, w.fresh,
                       w.hs + w.pend AS cs, CASE WHEN w.pend > 0 THEN w.li ELSE w.hi END AS ci
                FROM w
            ), c AS (
                SELECT x.o, x.a, x.s,
                    CASE
                        WHEN x.sid IS NOT NULL THEN CASE WHEN x.sid = x.i THEN 'duplicate' ELSE 'fork' END
                        WHEN x.rn > 1 THEN CASE WHEN x.fid = x.i THEN 'duplicate' ELSE 'fork' END
                        WHEN x.cs > 0 AND x.s = x.cs + 1 AND x.v <> x.ci THEN 'fork'
                        WHEN x.s = x.cs + 1 AND x.v = x.ci THEN 'new'
                        ELSE 'gap'
                    END AS kind,
                    CASE WHEN x.sid IS NOT NULL OR x.rn > 1 THEN x.s WHEN x.cs > 0 AND x.s = x.cs + 1 THEN x.cs ELSE x.cs + 1 END AS fs,
                    CASE WHEN x.sid IS NOT NULL THEN x.sid WHEN x.rn > 1 THEN x.fid ELSE x.ci END AS fstored,
                    CASE WHEN x.sid IS NOT NULL OR x.rn > 1 THEN x.i ELSE x.v END AS fpushed
                FROM x
            )
            SELECT
                (array_agg(c.kind ORDER BY c.o) FILTER (WHERE c.kind IN ('fork', 'gap')))[1],
                (array_agg(c.a ORDER BY c.o) FILTER (WHERE c.kind IN ('fork', 'gap')))[1],
                (array_agg(c.fs ORDER BY c.o) FILTER (WHERE c.kind IN ('fork', 'gap')))[1],
                (array_agg(c.fstored ORDER BY c.o) FILTER (WHERE c.kind IN ('fork', 'gap')))[1],
                (array_agg(c.fpushed ORDER BY c.o) FILTER (WHERE c.kind IN ('fork', 'gap')))[1],
                (array_agg(c.s ORDER BY c.o) FILTER (WHERE c.kind IN ('fork', 'gap')))[1],
                count(*) FILTER (WHERE c.kind = 'duplicate'),
                array_agg(c.o ORDER BY c.o) FILTER (WHERE c.kind = 'new'),
                count(*) FILTER (WHERE c.kind = 'new' AND c.s = 1),
                coalesce(sum(octet_length(p_bytes[c.o])) FILTER (WHERE c.kind = 'new'), 0)
            INTO v_kind, v_author, v_seq, v_stored, v_pushed, v_got, v_duplicates, v_new, v_new_authors, v_adding
            FROM c;

            IF v_kind = 'fork' THEN
                RETURN QUERY SELECT 'fork'::text, NULL::bigint[], NULL::bytea[], v_duplicates, v_author, v_seq, v_stored, v_pushed, NULL::bigint, NULL::bigint;
                RETURN;
            ELSIF v_kind = 'gap' THEN
                RETURN QUERY SELECT 'gap'::text, NULL::bigint[], NULL::bytea[], v_duplicates, v_author, v_seq, NULL::bytea, NULL::bytea, v_got, NULL::bigint;
                RETURN;
            END IF;
            IF v_new IS NULL THEN
                RETURN QUERY SELECT 'ok'::text, ARRAY[]::bigint[], ARRAY[]::bytea[], v_duplicates, NULL::bytea, NULL::bigint, NULL::bytea, NULL::bytea, NULL::bigint, NULL::bigint;
                RETURN;
            END IF;

            SELECT u.bytes, u.authors INTO v_used_bytes, v_used_authors FROM space_usage u WHERE u.space = p_space;
            IF NOT FOUND THEN
                v_used_bytes := 0;
                v_used_authors := 0;
                IF p_max_spaces IS NOT NULL THEN
                    -- A new space: new spaces are counted one at a time, under a lock of their own.
                    PERFORM pg_advisory_xact_lock(\(lockNamespace), 1);
                    SELECT count(*) INTO v_spaces FROM space_usage;
                    IF v_spaces >= p_max_spaces THEN
                        RETURN QUERY SELECT 'too-many-spaces'::text, NULL::bigint[], NULL::bytea[], v_duplicates, NULL::bytea, NULL::bigint, NULL::bytea, NULL::bytea, v_spaces, NULL::bigint;
                        RETURN;
                    END IF;
                END IF;
            END IF;
            IF v_new_authors > 0 AND v_used_authors + v_new_authors > p_max_authors THEN
                RETURN QUERY SELECT 'too-many-authors'::text, NULL::bigint[], NULL::bytea[], v_duplicates, NULL::bytea, NULL::bigint, NULL::bytea, NULL::bytea, v_used_authors, v_new_authors;
                RETURN;
            END IF;
            IF v_used_bytes + v_adding > p_quota THEN
                RETURN QUERY SELECT 'quota-exceeded'::text, NULL::bigint[], NULL::bytea[], v_duplicates, NULL::bytea, NULL::bigint, NULL::bytea, NULL::bytea, v_used_bytes, v_adding;
                RETURN;
            END IF;

            WITH ins AS (
                INSERT INTO bundles (space, author, seq, id, previous, bytes)
                SELECT p_space, p_authors[k.o], p_seqs[k.o], p_ids[k.o], p_previous[k.o], p_bytes[k.o]
                FROM unnest(v_new) WITH ORDINALITY AS k(o, n) ORDER BY k.n
                RETURNING position, id
            )
            SELECT array_agg(ins.position ORDER BY ins.position), array_agg(ins.id ORDER BY ins.position) INTO v_positions, v_ids FROM ins;
            INSERT INTO heads (space, author, seq)
            SELECT p_space, p_authors[k.o], max(p_seqs[k.o]) FROM unnest(v_new) AS k(o) GROUP BY p_authors[k.o]
            ON CONFLICT (space, author) DO UPDATE SET seq = EXCLUDED.seq;
            INSERT INTO space_usage (space, bytes, authors) VALUES (p_space, v_adding, v_new_authors)
            ON CONFLICT (space) DO UPDATE SET bytes = space_usage.bytes + EXCLUDED.bytes, authors = space_usage.authors + EXCLUDED.authors;
            -- One notification per bundle, delivered to every listener after commit.
            PERFORM pg_notify(p_channel, p_prefix || k.p::text) FROM unnest(v_positions) AS k(p);
            RETURN QUERY SELECT 'ok'::text, v_positions, v_ids, v_duplicates, NULL::bytea, NULL::bigint, NULL::bytea, NULL::bytea, NULL::bigint, NULL::bigint;
        END
        $concord$
        """
}
