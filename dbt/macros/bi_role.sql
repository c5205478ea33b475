{#-
    flows_bi: the role BI tools log in through (as members of it). It may read every table and
    view in schema flows - those dbt creates later included, through default privileges - and
    nothing else: no other schema, no writes. Run at the start of every dbt invocation.

    Creating the role needs CREATEROLE; a database user without it gets a warning, and the
    grants are made once someone with it has created the role.
-#}
{% macro bi_role_name() -%}
    {{ return(var('bi_role')) }}
{%- endmacro %}


{% macro grant_bi_read_access() -%}
    {%- set role = adapter.quote(bi_role_name()) -%}
    {%- set role_literal = "'" ~ bi_role_name() | replace("'", "''") ~ "'" -%}
    create schema if not exists flows;
    do $grant$
    begin
        if not exists (select from pg_roles where rolname = {{ role_literal }}) then
            begin
                create role {{ role }} nologin;
            exception
                -- Another dbt run (a test process beside this one) created it first: the
                -- loser of that race gets unique_violation on pg_authid, not duplicate_object.
                when duplicate_object or unique_violation then null;
                when insufficient_privilege then
                    raise warning 'role % is missing and % may not create it; BI access not granted',
                        {{ role_literal }}, current_user;
                    return;
            end;
        end if;
        grant usage on schema flows to {{ role }};
        grant select on all tables in schema flows to {{ role }};
        alter default privileges in schema flows grant select on tables to {{ role }};
    end
    $grant$
{%- endmacro %}
