-- The quarantine rule unknown_claim_status (macro claim_quarantine_rules) knows exactly the
-- statuses of the seed claim_status_outcomes: a status added to the seed alone would be
-- quarantined, and one left in the rule alone would reach the facts with no KPI outcome.
-- Returns each status that is in one of the two only.
with

seeded as (
    select claim_status from {{ ref('claim_status_outcomes') }}
),

ruled as (
    {%- for status in known_claim_statuses() %}
        select '{{ status }}' as claim_status
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
)

select
    coalesce(seeded.claim_status, ruled.claim_status) as claim_status,
    case when seeded.claim_status is null then 'rule only' else 'seed only' end as found_in
from seeded
full outer join ruled on seeded.claim_status = ruled.claim_status
where seeded.claim_status is null or ruled.claim_status is null
