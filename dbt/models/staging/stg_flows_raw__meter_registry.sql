with

source as (

    select * from {{ source('flows_raw', 'meter_registry') }}

),

renamed as (

    select
        -- ids
        id as meter_id,
        esco as esco_id,
        serial,

        -- attributes
        name,
        ip_address,
        port,
        hardware,
        mode,
        single_meter_app,
        daylight_savings_correction_enabled,
        prepay_enabled,
        coalesce(direction_reversed, false) as direction_reversed,

        -- lineage
        source_file,
        source_row,
        loaded_at

    from source

)

select * from renamed
