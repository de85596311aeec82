from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0014_service_calendar')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['estate_id', 'status', 'kind', 'department', 'created_at']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['estate_id', 'created_at']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['status', 'due_response_at']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['status', 'due_resolve_at']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['status', 'resolved_at']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['claimed_by_id', 'status']),
        ),
        ops.AddIndex(
            model_name='TicketEvent',
            index=Index(fields=['ticket_id', 'kind']),
        ),
        ops.AddIndex(
            model_name='TicketReporter',
            index=Index(fields=['platform', 'chat_id', 'user_id', 'at']),
        ),
    ]
