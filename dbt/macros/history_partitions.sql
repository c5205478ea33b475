{#-
    The history marts are range-partitioned by UTC month on "timestamp", like the raw tables
    (dagster_project/warehouse/partitions.py): `<table>_pYYYYMM` and `<table>_default`. A model
    opts in with meta partition_by_month (dbt_project.yml).

    Why this shape: the incremental materialization decides between `create table as` and
    delete+insert from dbt's relation cache, filled before any hook runs, so creating the
    table in a hook would make it try `create table as` over it. Instead the first build goes
    through dbt's own create path, with create_table_as below adding `partition by` and the
    partitions before its insert; every later run finds the table and a pre-hook
    (prepare_history_partitions) adds the coming months, converts a plain table left by an
    earlier version, and empties the table on --full-refresh. dbt's full refresh would drop and
    recreate it as a plain table, hence full_refresh: false on these models.
-#}

{% macro partition_by_month_column() -%}
    {{ return((config.get('meta') or {}).get('partition_by_month')) }}
{%- endmacro %}


{#-
    Overrides dbt-postgres's macro (the root project wins dbt's dispatch) for these models only;
    the others get the original, reachable through the `dbt` namespace only. The column list
    for `partition by` comes from the contract, hence partitioning only with one enforced.
-#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {%- set column = partition_by_month_column() -%}
    {%- if temporary or not column or not config.get('contract').enforced -%}
        {{ dbt.postgres__create_table_as(temporary, relation, sql) }}
    {%- else -%}
        {{ get_assert_columns_equivalent(sql) }}
        create table {{ relation }}
        {{ get_table_columns_and_constraints() }}
        partition by range ({{ adapter.quote(column) }});
        {{ month_partitions_sql(relation, column, new_table=true) }}
        insert into {{ relation }} ({{ adapter.dispatch('get_column_names', 'dbt')() }})
        {{ get_select_subquery(sql) }};
    {%- endif -%}
{%- endmacro %}


{#-
    The default partition and the missing month partitions from the month of the oldest raw
    snapshot (or of `since_relation`'s oldest row, if older) to two months ahead. A month whose
    rows already sit in the default partition (PostgreSQL refuses to create its partition then)
    has them moved into the new partition. `if not exists`: a dbt run beside this one may have
    added the month since this one found it missing.
-#}
{% macro month_partitions_sql(relation, column, new_table=false, since_relation=none) -%}
    {%- set default = relation.incorporate(path={'identifier': relation.identifier ~ '_default'}) -%}
    {%- set months_query -%}
        with bounds as (
            select
                date_trunc('month', least(
                    (select min(polled_at) from {{ ref('stg_flows_raw__meter_sync_snapshots') }}),
                    {% if since_relation is not none -%}
                    (select min({{ adapter.quote(column) }}) from {{ since_relation }}),
                    {% endif -%}
                    now()
                ) at time zone 'UTC') as first_month,
                date_trunc('month', now() at time zone 'UTC') + interval '2 months' as last_month
        )
        select
            to_char(month, 'YYYYMM') as suffix,
            to_char(month, 'YYYY-MM-DD') as first_day,
            to_char(month + interval '1 month', 'YYYY-MM-DD') as next_first_day
        from bounds, generate_series(first_month, last_month, interval '1 month') as month
        where to_regclass(
            format('%I.%I', '{{ relation.schema }}', '{{ relation.identifier }}_p' || to_char(month, 'YYYYMM'))
        ) is null
        order by month
    {%- endset -%}
    {%- set months = run_query(months_query) if execute else [] -%}
    create table if not exists {{ default }} partition of {{ relation }} default;
    {% for month in months -%}
        {%- set partition = relation.incorporate(path={'identifier': relation.identifier ~ '_p' ~ month['suffix']}) -%}
        {%- set bounds = "from ('" ~ month['first_day'] ~ " 00:00:00+00') to ('" ~ month['next_first_day'] ~ " 00:00:00+00')" -%}
        {%- set in_month -%}
            {{ adapter.quote(column) }} >= '{{ month['first_day'] }} 00:00:00+00'
            and {{ adapter.quote(column) }} < '{{ month['next_first_day'] }} 00:00:00+00'
        {%- endset -%}
        {%- set stranded = false -%}
        {%- if not new_table -%}
            {%- set stranded = run_query('select exists (select from ' ~ default ~ ' where ' ~ in_month ~ ')').columns[0].values()[0] -%}
        {%- endif -%}
        {%- if stranded -%}
            {%- do log('Moving ' ~ default ~ "'s rows of " ~ month['suffix'] ~ ' into new partition ' ~ partition, info=true) -%}
            {%- set moving = relation.incorporate(path={'identifier': relation.identifier ~ '_moving_' ~ month['suffix']}) -%}
            create temporary table {{ moving.identifier }} on commit drop as
                select * from {{ default }} where {{ in_month }};
            delete from {{ default }} where {{ in_month }};
            create table if not exists {{ partition }} partition of {{ relation }} for values {{ bounds }};
            insert into {{ relation }} select * from {{ moving.identifier }};
            drop table {{ moving.identifier }};
        {%- else %}
            create table if not exists {{ partition }} partition of {{ relation }} for values {{ bounds }};
        {%- endif %}
    {% endfor -%}
{%- endmacro %}


{#-
    Pre-hook of the partitioned history models. A missing table is left to the materialization
    (create_table_as above). A plain table from an earlier version is converted in the model's
    transaction, so a failure leaves it as it was and the next run tries again.
-#}
{% macro prepare_history_partitions() -%}
    {%- set column = partition_by_month_column() -%}
    {%- if execute -%}
        {%- set kind_query -%}
            select c.relkind::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = '{{ this.schema }}' and c.relname = '{{ this.identifier }}'
        {%- endset -%}
        {%- set kinds = run_query(kind_query).columns[0].values() -%}
        {%- if kinds | length > 0 -%}
            {%- if kinds[0] == 'r' -%}
                {%- set old = this.incorporate(path={'identifier': this.identifier ~ '__unpartitioned'}) -%}
                {%- set quoted = [] -%}
                {%- for column_name in model['columns'] -%}
                    {%- do quoted.append(adapter.quote(column_name)) -%}
                {%- endfor -%}
                {%- set columns = quoted | join(', ') -%}
                {%- do log('Converting ' ~ this ~ ' to monthly partitions', info=true) -%}
                alter table {{ this }} rename to {{ old.identifier }};
                create table {{ this }}
                {{ get_table_columns_and_constraints() }}
                partition by range ({{ adapter.quote(column) }});
                {#- Its months are read while the plain table still has this name. -#}
                {{ month_partitions_sql(this, column, new_table=true, since_relation=this) }}
                insert into {{ this }} ({{ columns }}) select {{ columns }} from {{ old }};
                drop table {{ old }};
                {% for index in config.get('indexes', []) -%}
                    {{ get_create_index_sql(this, index) }}
                {% endfor -%}
            {%- else -%}
                {{ month_partitions_sql(this, column) }}
            {%- endif %}
            {% if flags.FULL_REFRESH -%}
                truncate table {{ this }};
                delete from {{ history_watermarks_relation() }} where model = '{{ this.identifier }}';
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
