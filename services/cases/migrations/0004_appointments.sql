-- Appointments (预约): slots per item, hall and date with a capacity. `booked` is changed only by
-- a conditional UPDATE (booked < capacity), so concurrent bookings can never exceed capacity.

CREATE TABLE appointment_slots (
    id         uuid PRIMARY KEY,
    item_code  text NOT NULL,
    department text NOT NULL,
    hall       text NOT NULL,
    date       date NOT NULL,
    start_time time NOT NULL,
    end_time   time NOT NULL,
    capacity   int NOT NULL CHECK (capacity BETWEEN 1 AND 1000),
    booked     int NOT NULL DEFAULT 0,
    rest_day   boolean NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (booked BETWEEN 0 AND capacity),
    CHECK (start_time < end_time),
    UNIQUE (item_code, hall, date, start_time)
);
CREATE INDEX appointment_slots_by_item_date ON appointment_slots (item_code, date, start_time);

CREATE TABLE appointments (
    id           uuid PRIMARY KEY,
    slot_id      uuid NOT NULL REFERENCES appointment_slots (id),
    state        text NOT NULL CHECK (state IN ('booked', 'cancelled')),
    booked_by    text NOT NULL,
    request_id   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz,
    cancelled_by text NOT NULL DEFAULT ''
);
-- One live booking per person per slot; a retried booking finds the first by request_id.
CREATE UNIQUE INDEX appointments_one_per_person ON appointments (slot_id, booked_by) WHERE state = 'booked';
CREATE UNIQUE INDEX appointments_by_request ON appointments (booked_by, request_id) WHERE request_id <> '';
